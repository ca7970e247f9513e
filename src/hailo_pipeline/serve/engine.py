"""A release bundle made ready to answer: checked bundle, chosen backend, host-side normalization,
motif head, and the golden vectors that must reproduce before anything is served."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.build import manifest as manifest_io
from hailo_pipeline.build.motif_head import PrototypeHead
from hailo_pipeline.build.release import check_sums
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.parity import Parity, compare
from hailo_pipeline.serve.backends import Backend, Choice, DeviceAccess, choose, open_backend

LATENT_DIM, MOTIFS = 64, 12  # what EdgeInfer accepts, and nothing else


def _edgeinfer_contract(manifest: dict[str, Any]) -> None:
    problems = []
    if manifest["input"]["height"] != 1:
        problems.append(f"input height {manifest['input']['height']} (EdgeInfer sends one 9-channel stream)")
    if manifest["outputs"]["latent_dim"] != LATENT_DIM:
        problems.append(f"latent_dim {manifest['outputs']['latent_dim']} (EdgeInfer needs {LATENT_DIM})")
    if manifest["outputs"]["motif_head"].get("count") != MOTIFS:
        problems.append(f"{manifest['outputs']['motif_head'].get('count')} motifs (EdgeInfer needs {MOTIFS})")
    if problems:
        raise PipelineError(f"release {manifest['release']} cannot serve EdgeInfer: {'; '.join(problems)}")


@dataclass(frozen=True)
class GoldenCheck:
    passed: bool
    latent: Parity
    threshold: float
    detail: str


class Engine:
    def __init__(self, release_dir: Path, manifest: dict[str, Any], backend: Backend, choice: Choice) -> None:
        self.release_dir, self.manifest, self.backend, self.choice = release_dir, manifest, backend, choice
        self.release = str(manifest["release"])
        self.window = int(manifest["input"]["window"])
        self.on_chip = backend.name == "hailo" and bool((manifest["hef"] or {}).get("normalization_on_chip"))
        self.mean = np.asarray(manifest["normalization"]["mean"], np.float32)
        self.std = np.asarray(manifest["normalization"]["std"], np.float32)
        self.head = PrototypeHead.from_manifest(manifest["outputs"]["motif_head"])

    def infer(self, rows: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """(window, 9) raw rows -> (latent, motif scores)."""
        x = rows if self.on_chip else (rows - self.mean) / self.std
        latent = self.backend.run(x[None].astype(np.float32))
        return latent, self.head.scores(latent[None])[0]

    def golden_check(self) -> GoldenCheck:
        """FP32 goldens reproduce to the bundle's tolerance on ONNX Runtime, and to the quantization gate's
        cosine on the accelerator (a quantized device never matches FP32 to 1e-3)."""
        with np.load(self.release_dir / "golden.npz", allow_pickle=False) as golden:
            windows, expected = golden["windows"], golden["latent"]
        got = np.stack([self.infer(w[0])[0] for w in windows])
        parity = compare(expected, got)
        if self.backend.name == "hailo":
            threshold = float(self.manifest["gates"].get("quantized", {}).get("threshold", 0.98))
            passed = parity.cosine_min >= threshold
        else:
            threshold = float(self.manifest["golden"]["cosine_min"])
            passed = parity.cosine_min >= threshold and parity.max_abs <= float(self.manifest["golden"]["max_abs"])
        detail = (
            f"golden vectors on {self.backend.name}: worst cosine {parity.cosine_min:.6f} (needs >= {threshold}), "
            f"max abs {parity.max_abs:.3g}"
        )
        return GoldenCheck(passed, parity, threshold, detail)

    def info(self) -> dict[str, Any]:
        hef = self.manifest["hef"] or {}
        return {
            "release": self.release,
            "backend": self.backend.name,
            "backend_reason": self.choice.reason,
            "versions": {**self.backend.versions, "hef_sdk": hef.get("sdk_version")},
        }


def load_engine(release_dir: Path, requested: str, access: DeviceAccess, threads: int, timeout_ms: int) -> Engine:
    """Checks the bundle (checksums, manifest, EdgeInfer's contract) and opens the backend."""
    if not release_dir.is_dir():
        raise PipelineError(f"release dir {release_dir} does not exist (HAILO_RELEASE_DIR)")
    check_sums(release_dir)
    manifest = manifest_io.read(release_dir)
    _edgeinfer_contract(manifest)
    choice = choose(requested, manifest["hef"] is not None, access)
    return Engine(release_dir, manifest, open_backend(choice, release_dir, threads, timeout_ms, access), choice)
