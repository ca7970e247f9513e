"""`hailo-pipeline probe URL RELEASE_DIR`: is this release live and right, seen the way EdgeInfer sees it?

GETs the health URL EdgeInfer derives from MODEL_BACKEND_URL (the part before /infer, plus /healthz),
requires 200 and the expected release, then POSTs each golden window to URL and compares the answers
with the bundle's golden latents and motif scores. A deploy runs it after (re)starting the sidecar.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from hailo_pipeline.build import manifest as manifest_io
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.parity import Parity, compare


def health_url(model_backend_url: str) -> str:
    head, sep, _ = model_backend_url.partition("/infer")
    if not sep:
        raise PipelineError(f"{model_backend_url} is not a MODEL_BACKEND_URL: it must end in /infer")
    return head + "/healthz"


def _request(url: str, body: bytes | None, timeout: float) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except (urllib.error.URLError, OSError) as exc:
        raise PipelineError(f"{url}: no answer ({exc})") from None


def _threshold(manifest: dict[str, Any], backend: str) -> tuple[float, float | None]:
    """Minimum cosine and maximum abs error a golden answer needs: FP32 tolerance on ONNX Runtime, the
    quantization gate's cosine on the accelerator."""
    if backend == "hailo":
        return float(manifest["gates"].get("quantized", {}).get("threshold", 0.98)), None
    return float(manifest["golden"]["cosine_min"]), float(manifest["golden"]["max_abs"])


def probe(url: str, release_dir: Path, timeout: float = 5.0) -> dict[str, Any]:
    manifest = manifest_io.read(release_dir)
    status, health = _request(health_url(url), None, timeout)
    if status != 200:
        raise PipelineError(f"{health_url(url)} answered {status}: {health.get('reason', health)}")
    if health.get("release") != manifest["release"]:
        raise PipelineError(f"the sidecar serves {health.get('release')!r}, expected {manifest['release']!r}")
    with np.load(release_dir / "golden.npz", allow_pickle=False) as golden:
        windows, latent, scores = golden["windows"], golden["latent"], golden["motif_scores"]
    answers = []
    for window in windows:
        status, answer = _request(url, json.dumps({"x": window[0].tolist()}).encode(), timeout)
        if status != 200:
            raise PipelineError(f"{url} answered {status} to a golden window: {answer}")
        answers.append((answer["latent"], answer["motif_scores"]))
    cosine_min, max_abs = _threshold(manifest, str(health.get("backend")))
    results: dict[str, Parity] = {
        "latent": compare(latent, np.array([a[0] for a in answers])),
        "motif_scores": compare(scores, np.array([a[1] for a in answers])),
    }
    for label, parity in results.items():
        if parity.cosine_min < cosine_min or (max_abs is not None and parity.max_abs > max_abs):
            raise PipelineError(
                f"golden {label} through {url}: worst cosine {parity.cosine_min:.6f} (needs >= {cosine_min}), "
                f"max abs {parity.max_abs:.3g}" + (f" (needs <= {max_abs})" if max_abs is not None else "")
            )
    return {
        "release": manifest["release"],
        "backend": health.get("backend"),
        "windows": len(windows),
        **{label: parity.as_dict() for label, parity in results.items()},
    }
