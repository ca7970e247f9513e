"""`hailo-pipeline verify RELEASE_DIR`: is this bundle intact, well-formed, and does it still compute
its golden vectors? Nothing about a bundle is trusted until this passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hailo_pipeline.bundle import heads
from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.bundle.golden import Golden, failures
from hailo_pipeline.bundle.model_io import Normalization, to_latents, to_model_input
from hailo_pipeline.bundle.release import check_sums
from hailo_pipeline.bundle.signature import signed_by
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo.hef import parse_hef
from hailo_pipeline.model.onnx_model import OnnxModel

REQUIRED_FILES = ("release.json", "model.onnx", "golden.npz", "report.html")


def verify(release_dir: Path, allowed_signers: Path | None = None) -> dict[str, Any]:
    """With allowed_signers, the bundle must also be signed by a key that file lists (trust.check_bundle)."""
    if not release_dir.is_dir():
        raise PipelineError(f"{release_dir} is not a directory")
    sums = check_sums(release_dir, allowed_signers)
    signed = signed_by(release_dir, allowed_signers) if allowed_signers is not None else None
    manifest = manifest_io.read(release_dir)
    required = [*REQUIRED_FILES, *(["model.hef"] if manifest["hef"] is not None else [])]
    missing = [name for name in required if name not in sums]
    if missing:
        raise PipelineError(f"{release_dir}: bundle lacks {', '.join(missing)}")
    for name, digest in manifest["files"].items():
        if sums.get(name) != digest:
            raise PipelineError(f"{release_dir}: {name} differs from the sha256 the manifest records")
    if manifest["hef"] is not None:
        info = parse_hef((release_dir / "model.hef").read_bytes())
        recorded = (manifest["hef"]["hw_arch"], manifest["hef"]["sdk_version"])
        if (info.hw_arch, info.sdk_version) != recorded:
            raise PipelineError(f"{release_dir}: model.hef is {info.hw_arch} / DFC {info.sdk_version}, the manifest says {recorded}")

    head = heads.from_manifest(manifest["outputs"])
    golden = Golden.read(release_dir, head)
    norm = Normalization(mean=tuple(manifest["normalization"]["mean"]), std=tuple(manifest["normalization"]["std"]))
    got = to_latents(OnnxModel(release_dir / "model.onnx").run(to_model_input(golden.windows, norm)))
    parities = {head.device_output: golden.device_parity(got), **golden.host_parity(head)}
    problems = failures(parities, manifest["golden"])
    if problems:
        raise PipelineError(f"{release_dir}: golden vectors do not reproduce on onnxruntime: {'; '.join(problems)}")
    return {
        "release": manifest["release"],
        "files": len(sums),
        "backend": "onnxruntime",
        "golden": {name: p.as_dict() for name, p in parities.items()},
        "device_output": head.device_output,
        "hef_status": manifest["hef_status"],
        **({"signature": signed.as_dict()} if signed else {}),
    }
