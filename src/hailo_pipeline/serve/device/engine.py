"""A release bundle made ready to answer: checked bundle, chosen backend, host-side normalization, the host
tail (motif head or FSQ classifier: bundle/heads.py), and the golden vectors that must reproduce before anything
is served.

Clients' units (the manifest's input.client_units, or the host's override) are converted to the model's before
normalizing: a per-channel scale s, folded into the host-side mean and std at load ((x*s - mean)/std is
(x - mean/s)/(std/s): no cost per window), or multiplied into the window where the HEF normalizes on chip. The
golden windows are in the model's units: the golden check sends them in the clients' units (divided by s), so that
it proves the conversion too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.bundle import heads
from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.bundle import units as units_io
from hailo_pipeline.bundle.golden import Golden, failures
from hailo_pipeline.bundle.release import check_sums
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo.hailort_backend import HailoRTError
from hailo_pipeline.model.parity import Parity, compare
from hailo_pipeline.serve.device.backends import Backend, Choice, OnnxRuntimeBackend, choose, open_backend
from hailo_pipeline.serve.messages import DeviceAccess

LATENT_DIM, MOTIFS = 64, 12  # what EdgeInfer accepts, and nothing else


def edgeinfer_misfit(manifest: dict[str, Any]) -> str | None:
    """Why a bundle cannot answer EdgeInfer's POST /infer (one 9-channel stream -> 64 latent values, 12 motif
    scores), or None."""
    outputs = manifest["outputs"]
    if outputs.get("kind", "latent") != "latent":
        return f"its outputs are {outputs['kind']} (EdgeInfer reads 64 latent values and 12 motif scores)"
    problems = []
    if manifest["input"]["height"] != 1:
        problems.append(f"input height {manifest['input']['height']} (EdgeInfer sends one 9-channel stream)")
    if outputs["latent_dim"] != LATENT_DIM:
        problems.append(f"latent_dim {outputs['latent_dim']} (EdgeInfer needs {LATENT_DIM})")
    if outputs["motif_head"].get("count") != MOTIFS:
        problems.append(f"{outputs['motif_head'].get('count')} motifs (EdgeInfer needs {MOTIFS})")
    return "; ".join(problems) or None


@dataclass(frozen=True)
class LiveCheck:
    """A release on a Pi's captured windows (the canary's live-window gate)."""

    windows: int
    cosine_min: float
    threshold: float
    passed: bool

    def summary(self) -> str:
        return f"worst cosine {self.cosine_min:.6f} on {self.windows} captured windows (needs >= {self.threshold})"


@dataclass(frozen=True)
class GoldenCheck:
    passed: bool
    device: Parity
    threshold: float
    detail: str


class Engine:
    def __init__(
        self, release_dir: Path, manifest: dict[str, Any], backend: Backend, choice: Choice, client_units: Mapping[str, str] | None = None
    ) -> None:
        """client_units: the host's override ({channel: unit}) over the manifest's input.client_units."""
        self.release_dir, self.manifest, self.backend, self.choice = release_dir, manifest, backend, choice
        self.release = str(manifest["release"])
        self.name = str(manifest["name"])
        self.window = int(manifest["input"]["window"])
        self.height = int(manifest["input"]["height"])
        self.on_chip = backend.name == "hailo" and bool((manifest["hef"] or {}).get("normalization_on_chip"))
        channels = manifest["input"]["channels"]
        self.units, bundled = manifest_io.input_units(manifest)
        try:
            self.client_units = units_io.parse_units(client_units, channels, bundled, f"client_units of model {self.name}")
        except PipelineError as exc:  # the bundle's are checked with its manifest: the host's override is wrong
            raise PipelineError(f"{exc} (the host's CLIENT_UNITS_FILE: the role's hailo_sidecar_client_units)") from None
        scale = np.asarray(units_io.factors(channels, self.client_units, self.units))  # client -> model units
        self.client_scale = scale.astype(np.float32)
        # the raw window's normalization, in the clients' units (float64 until here: the fold adds no rounding)
        self.mean = (np.asarray(manifest["normalization"]["mean"]) / scale).astype(np.float32)
        self.std = (np.asarray(manifest["normalization"]["std"]) / scale).astype(np.float32)
        self.chip_scale = None if (scale == 1).all() else self.client_scale  # on chip: what the window is multiplied by
        self.head = heads.from_manifest(manifest["outputs"])

    @property
    def window_shape(self) -> tuple[int, int, int]:
        """The raw window it takes: (H, T, 9)."""
        return self.height, self.window, len(self.mean)

    def device_output(self, window: NDArray[np.float32]) -> NDArray[np.float32]:
        """(H, T, 9) raw rows in the clients' units -> the backend's output, flattened."""
        if not self.on_chip:
            return self.backend.run(((window - self.mean) / self.std).astype(np.float32))
        x = window if self.chip_scale is None else window * self.chip_scale
        return self.backend.run(x.astype(np.float32))

    def answers(self, device_output: NDArray[np.float32]) -> NDArray[np.float32]:
        """The backend's output -> every answer of the head, as one flat vector in its order (heads.flat)."""
        return heads.flat(self.head.outputs(device_output[None]), self.head)

    def infer(self, window: NDArray[np.float32]) -> NDArray[np.float32]:
        """(H, T, 9) raw rows in the clients' units -> every answer of the head."""
        return self.answers(self.device_output(window))

    @property
    def quantized_threshold(self) -> float:
        """The quantization gate's cosine: what a quantized device's output must keep against FP32."""
        return float(self.manifest["gates"].get("quantized", {}).get("threshold", 0.98))

    def golden_check(self) -> GoldenCheck:
        """The golden device outputs reproduce to the bundle's tolerance on ONNX Runtime, and to the quantization
        gate's cosine on the accelerator (a quantized device never matches FP32 to 1e-3); the host tail reproduces
        the golden answers from the golden device outputs (golden.py)."""
        golden = Golden.read(self.release_dir, self.head)
        sent = golden.windows / self.client_scale  # the golden windows as a client in client_units sends them
        device = golden.device_parity(np.stack([self.device_output(w) for w in sent.astype(np.float32)]))
        tolerance = self.manifest["golden"]
        if self.backend.name == "hailo":
            threshold = self.quantized_threshold
            passed = device.cosine_min >= threshold
        else:
            threshold = float(tolerance["cosine_min"])
            passed = device.cosine_min >= threshold and device.max_abs <= float(tolerance["max_abs"])
        host = failures(golden.host_parity(self.head), tolerance)
        detail = (
            f"golden vectors on {self.backend.name}: worst {self.head.device_output} cosine {device.cosine_min:.6f} "
            f"(needs >= {threshold}), max abs {device.max_abs:.3g}"
        ) + (f"; host tail does not reproduce them: {'; '.join(host)}" if host else "")
        return GoldenCheck(passed and not host, device, threshold, detail)

    def live_check(self, windows: NDArray[np.float32]) -> LiveCheck:
        """Client windows a Pi captured (n, rows, channels), in the model's units, through this release and through its
        FP32 ONNX on the CPU: the worst cosine of the device's output against the quantization gate's threshold. On
        ONNX Runtime the two are one model, so it measures what it can: that the release answers them."""
        sent = (windows.reshape(len(windows), *self.window_shape) / self.client_scale).astype(np.float32)
        device = np.stack([self.device_output(w) for w in sent])
        reference = OnnxRuntimeBackend(self.release_dir / "model.onnx", threads=1)
        try:
            fp32 = np.stack([reference.run(((w - self.mean) / self.std).astype(np.float32)) for w in sent])
        finally:
            reference.close()
        parity, threshold = compare(fp32, device), self.quantized_threshold
        return LiveCheck(len(windows), parity.cosine_min, threshold, parity.cosine_min >= threshold)

    def info(self) -> dict[str, Any]:
        hef = self.manifest["hef"] or {}
        return {
            "name": self.name,
            "release": self.release,
            "backend": self.backend.name,
            "backend_reason": self.choice.reason,
            "client_units": dict(zip(self.manifest["input"]["channels"], self.client_units, strict=True)),
            "versions": {**self.backend.versions, "hef_sdk": hef.get("sdk_version")},
        }


def load_engine(
    release_dir: Path,
    requested: str,
    access: DeviceAccess,
    threads: int,
    timeout_ms: int,
    allowed_signers: Path | None = None,
    client_units: Mapping[str, str] | None = None,
) -> Engine:
    """Checks the bundle (its signature when allowed_signers is given, checksums, manifest) and opens the backend;
    client_units: the host's override of the manifest's input.client_units."""
    if not release_dir.is_dir():
        raise PipelineError(f"release dir {release_dir} does not exist (HAILO_RELEASE_DIR)")
    check_sums(release_dir, allowed_signers)
    manifest = manifest_io.read(release_dir)
    choice = choose(requested, manifest["hef"] is not None, access)
    try:
        backend = open_backend(choice, release_dir, threads, timeout_ms, access)
    except HailoRTError as exc:  # HailoRT refused the device or the HEF: its own words are the reason
        if requested != "auto":
            raise PipelineError(f"HAILO_BACKEND=hailo but {exc}") from exc
        choice = Choice("onnxruntime", f"auto: onnxruntime because {exc}")
        backend = open_backend(choice, release_dir, threads, timeout_ms, access)
    try:
        return Engine(release_dir, manifest, backend, choice, client_units)
    except PipelineError:  # a unit of the override that is not one of the channel's
        backend.close()
        raise
