"""`hailo-pipeline verify RELEASE_DIR`: is this bundle intact, well-formed, and does it still compute
its golden vectors? Nothing about a bundle is trusted until this passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hailo_pipeline.build import manifest as manifest_io
from hailo_pipeline.build.model_io import to_latents, to_model_input
from hailo_pipeline.build.motif_head import PrototypeHead
from hailo_pipeline.build.release import check_sums
from hailo_pipeline.build.spec import Normalization
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo.hef import parse_hef
from hailo_pipeline.model.onnx_model import OnnxModel
from hailo_pipeline.model.parity import compare

REQUIRED_FILES = ("release.json", "model.onnx", "golden.npz", "report.html")


def verify(release_dir: Path) -> dict[str, Any]:
    if not release_dir.is_dir():
        raise PipelineError(f"{release_dir} is not a directory")
    sums = check_sums(release_dir)
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

    try:
        with np.load(release_dir / "golden.npz", allow_pickle=False) as golden:
            windows, latent, scores = golden["windows"], golden["latent"], golden["motif_scores"]
    except (KeyError, ValueError) as exc:
        raise PipelineError(f"{release_dir}/golden.npz is unreadable or incomplete: {exc}") from None
    norm = Normalization(mean=tuple(manifest["normalization"]["mean"]), std=tuple(manifest["normalization"]["std"]))
    got = to_latents(OnnxModel(release_dir / "model.onnx").run(to_model_input(windows, norm)))
    latent_parity = compare(latent, got)
    score_parity = compare(scores, PrototypeHead.from_manifest(manifest["outputs"]["motif_head"]).scores(got))
    tol = manifest["golden"]
    for label, parity in (("latent", latent_parity), ("motif_scores", score_parity)):
        if parity.cosine_min < tol["cosine_min"] or parity.max_abs > tol["max_abs"]:
            raise PipelineError(
                f"{release_dir}: golden {label} do not reproduce on onnxruntime: worst cosine {parity.cosine_min:.6f} "
                f"(needs >= {tol['cosine_min']}), max abs error {parity.max_abs:.3g} (needs <= {tol['max_abs']})"
            )
    return {
        "release": manifest["release"],
        "files": len(sums),
        "backend": "onnxruntime",
        "golden": {"latent": latent_parity.as_dict(), "motif_scores": score_parity.as_dict()},
        "hef_status": manifest["hef_status"],
    }
