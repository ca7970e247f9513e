"""`hailo-pipeline probe URL RELEASE_DIR`: is this release live and right, seen the way its callers see it?

GETs the health URL EdgeInfer derives from MODEL_BACKEND_URL (the part before /infer, plus /healthz),
requires 200 and the expected release as the bundle's model, then sends each golden window (to URL when the
model is EdgeInfer's, else over the Open Inference Protocol) and compares the answers with the bundle's
golden ones. A deploy runs it after (re)starting the sidecar. The golden windows are in the model's units; they
are sent in the units the sidecar says it converts from for the model (/healthz's client_units: the bundle's, or
the host's override).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from hailo_pipeline.bundle import heads
from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.bundle import units as units_io
from hailo_pipeline.bundle.golden import Golden
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.parity import Parity, compare


def health_url(model_backend_url: str) -> str:
    head, sep, _ = model_backend_url.partition("/infer")
    if not sep:
        raise PipelineError(f"{model_backend_url} is not a MODEL_BACKEND_URL: it must end in /infer")
    return head + "/healthz"


def _request(url: str, body: bytes | None, timeout: float) -> tuple[int, dict[str, Any]]:
    """One request's status and JSON body. A 503 that asks to be retried (Retry-After, in seconds) is retried while
    that fits in `timeout`: an overloaded sidecar refuses at once (EdgeInfer's traffic beside the probe can fill
    its queue), and that says nothing against the release. A longer Retry-After (not ready: 5 s) is the answer."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"} if body else {})
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as exc:
            status, doc, retry_after = exc.code, json.loads(exc.read() or b"{}"), exc.headers.get("Retry-After", "")
        except (urllib.error.URLError, OSError) as exc:
            raise PipelineError(f"{url}: no answer ({exc})") from None
        if status != 503 or not retry_after.isdigit() or time.monotonic() + int(retry_after) > deadline:
            return status, doc
        time.sleep(int(retry_after))


def _threshold(manifest: dict[str, Any], backend: str) -> tuple[float, float | None]:
    """Minimum cosine and maximum abs error a golden answer needs: FP32 tolerance on ONNX Runtime, the
    quantization gate's cosine on the accelerator."""
    if backend == "hailo":
        return float(manifest["gates"].get("quantized", {}).get("threshold", 0.98)), None
    return float(manifest["golden"]["cosine_min"]), float(manifest["golden"]["max_abs"])


def _oip_answer(url: str, manifest: dict[str, Any], window: np.ndarray, timeout: float) -> tuple[int, dict[str, Any]]:
    base, name = health_url(url).removesuffix("/healthz"), manifest["name"]
    tensor = {"name": manifest["input"]["name"], "shape": [1, *window.shape], "datatype": "FP32", "data": window.ravel().tolist()}
    status, doc = _request(f"{base}/v2/models/{name}/infer", json.dumps({"inputs": [tensor]}).encode(), timeout)
    return status, {o["name"]: o["data"] for o in doc.get("outputs", [])} if status == 200 else doc


def probe(url: str, release_dir: Path, timeout: float = 5.0) -> dict[str, Any]:
    """The sidecar at `url` (its MODEL_BACKEND_URL) is healthy and serves this release as its model, whose golden
    windows give the golden answers: through /infer when it is EdgeInfer's model, else through the Open
    Inference Protocol (/v2/models/<name>/infer). Compared: the head's gated answers (latent and motif scores;
    class probabilities)."""
    manifest = manifest_io.read(release_dir)
    name, release = str(manifest["name"]), str(manifest["release"])
    status, health = _request(health_url(url), None, timeout)
    if status != 200:
        raise PipelineError(f"{health_url(url)} answered {status}: {health.get('reason', health)}")
    served = health.get("models") or {}
    if name not in served:
        raise PipelineError(f"the sidecar serves no model {name!r} (it serves {', '.join(served) or 'none'})")
    if served[name].get("release") != release:
        raise PipelineError(f"the sidecar serves {served[name].get('release')!r}, expected {release!r} (model {name})")
    head = heads.from_manifest(manifest["outputs"])
    golden = Golden.read(release_dir, head)
    channels, model_units = manifest["input"]["channels"], manifest_io.input_units(manifest)[0]
    # a sidecar from before issue #40 names no client_units: it converts nothing
    in_force = units_io.parse_units(served[name].get("client_units"), channels, model_units, f"/healthz client_units of {name}")
    windows = golden.windows / np.asarray(units_io.factors(channels, in_force, model_units))
    route = "edgeinfer" if health.get("edgeinfer_model") == name else "oip"
    compared = [answer.name for answer in head.answers if answer.name in head.gated]
    got: dict[str, list[Any]] = {label: [] for label in compared}
    for window in windows.astype(np.float32):
        if route == "edgeinfer":
            status, answer = _request(url, json.dumps({"x": window[0].tolist()}).encode(), timeout)
        else:
            status, answer = _oip_answer(url, manifest, window, timeout)
        if status != 200:
            raise PipelineError(f"{name} answered {status} to a golden window through {route}: {answer}")
        for label in compared:
            got[label].append(answer[label])
    backend = str(served[name].get("backend"))
    cosine_min, max_abs = _threshold(manifest, backend)
    results: dict[str, Parity] = {label: compare(golden.expected[label], np.array(values)) for label, values in got.items()}
    for label, parity in results.items():
        if parity.cosine_min < cosine_min or (max_abs is not None and parity.max_abs > max_abs):
            raise PipelineError(
                f"golden {label} of {name} through {route}: worst cosine {parity.cosine_min:.6f} (needs >= {cosine_min}), "
                f"max abs {parity.max_abs:.3g}" + (f" (needs <= {max_abs})" if max_abs is not None else "")
            )
    return {
        "release": release,
        "model": name,
        "route": route,
        "backend": backend,
        "windows": len(golden.windows),
        **{label: parity.as_dict() for label, parity in results.items()},
    }
