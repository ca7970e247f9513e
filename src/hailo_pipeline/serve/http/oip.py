"""The Open Inference Protocol (KServe v2, as Triton, KServe, MLServer and Seldon speak it), REST/JSON, for
every model the sidecar serves (issue #17):

  GET  /v2                                          server metadata: name, version, extensions (none)
  GET  /v2/health/live                              200
  GET  /v2/health/ready                             200 when every model is ready, else 400
  GET  /v2/models/{name}[/versions/{v}]             name, versions (the release), platform, inputs, outputs
  GET  /v2/models/{name}[/versions/{v}]/ready       200, else 400
  POST /v2/models/{name}[/versions/{v}]/infer       {"inputs": [{"name", "shape", "datatype": "FP32", "data"}]}
                                                    -> {"model_name", "model_version", "outputs": [...]}

The protocol's health answers are status codes (200 true, 4xx false); a false one carries {"error": why}.
Server readiness is the models' (EdgeInfer's /infer binding is /healthz's business). JSON only: a request
without a Content-Type is read as JSON (tritonclient sends none), the binary tensor extension is refused.
The input is the raw window in the bundle's layout [1, H, T, 9] (H = 1 for the TCN, 2 for the FSQ model), in
sensor units: the sidecar normalizes as /infer does. `data` is flat (row-major) or nested. A model's version
is its serving release. Every refusal is the protocol's error object {"error": message}: 404 for an unknown
model or version, 400 for a request that does not fit the model, 413 for a body too large, 503 only when the
model is not ready, the device is overloaded or the backend failed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from numpy.typing import NDArray

from hailo_pipeline import __version__
from hailo_pipeline.serve.host.device_host import Loaded
from hailo_pipeline.serve.host.models import Model, Sidecar
from hailo_pipeline.serve.http import refusal
from hailo_pipeline.serve.http.exchange import Prepared, infer, is_json, json_response, read_body, sidecar_of
from hailo_pipeline.serve.http.refusal import OIP_ROUTE, Refused

PLATFORMS = {"hailo": "hailort_hef", "onnxruntime": "onnxruntime_onnx"}
# A numpy dtype kind the protocol's numbers may arrive as (no bools, no strings: "1.5" is not an FP32)
_NUMBER_KINDS = "iuf"
_OUTPUT_DTYPES = {"FP32": float, "INT32": int, "INT64": int}


def infer_path_model(path: str) -> str | None:
    """The model name in /v2/models/{name}[/versions/{v}]/infer, or None for any other path."""
    parts = path.split("/")
    if len(parts) in (5, 7) and parts[1] == "v2" and parts[2] == "models" and parts[-1] == "infer":
        return parts[3] if len(parts) == 5 or parts[4] == "versions" else None
    return None


def metadata(model: Model, loaded: Loaded) -> dict[str, Any]:
    """The model as the release `loaded` serves it (what the device process loaded, not what a switch may be bringing)."""
    inp = loaded.info["input"]
    return {
        "name": model.name,
        "versions": [loaded.release],
        "platform": PLATFORMS[loaded.info["backend"]],
        "inputs": [{"name": inp["name"], "datatype": "FP32", "shape": inp["shape"]}],
        "outputs": [{"name": name, "datatype": datatype, "shape": [1, size]} for name, size, datatype in loaded.info["answers"]],
    }


def parse_inputs(body: bytes, model: Model, loaded: Loaded) -> tuple[NDArray[np.float32], list[str] | None, Any]:
    """The request's one input as a raw (H, T, 9) window, the outputs asked for (None: all), and its id."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, "bad_json", f"body is not valid JSON: {exc}") from None
    meta = loaded.info["input"]  # name and shape of the release that will run it
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list) or len(doc["inputs"]) != 1:
        raise Refused(
            400, "bad_inputs", f'body must be {{"inputs": [one tensor]}}; model {model.name} takes {meta["name"]} {meta["shape"]} FP32'
        )
    tensor = doc["inputs"][0]
    if not isinstance(tensor, dict) or not {"name", "shape", "datatype", "data"} <= set(tensor):
        raise Refused(400, "bad_tensor", 'the input tensor needs "name", "shape", "datatype" and "data"')
    if tensor["name"] != meta["name"]:
        raise Refused(400, "unknown_input", f"model {model.name} has no input {tensor['name']!r}; its input is {meta['name']!r}")
    if tensor["datatype"] != "FP32":
        raise Refused(400, "bad_datatype", f"input {meta['name']} is FP32, not {tensor['datatype']!r}")
    if tensor["shape"] != meta["shape"]:
        raise Refused(400, "bad_shape", f"input {meta['name']} has shape {meta['shape']} ([1, H, T, 9]), not {tensor['shape']}")
    try:
        data = np.asarray(tensor["data"])
    except ValueError:
        data = np.asarray(None)
    if data.dtype.kind not in _NUMBER_KINDS:
        raise Refused(400, "not_numbers", f"input {meta['name']} data must be numbers, flat or nested to its shape")
    expected = int(np.prod(meta["shape"]))
    if data.size != expected or (data.ndim > 1 and list(data.shape) != meta["shape"]):
        raise Refused(
            400,
            "bad_data",
            f"input {meta['name']} data has {data.size} values in shape {list(data.shape)}; {meta['shape']} needs {expected}",
        )
    with np.errstate(over="ignore"):
        window = data.astype(np.float32).reshape(meta["shape"][1:])
    if not np.isfinite(window).all():
        raise Refused(400, "not_finite", f"input {meta['name']} holds values that are not finite float32 numbers")
    return window, _requested_outputs(doc, loaded), doc.get("id")


def _requested_outputs(doc: dict[str, Any], loaded: Loaded) -> list[str] | None:
    if "outputs" not in doc:
        return None
    if not isinstance(doc["outputs"], list):
        raise Refused(400, "bad_outputs", '"outputs" must be a list of {"name": output}')
    names = [o.get("name") if isinstance(o, dict) else None for o in doc["outputs"]]
    known = list(loaded.answers)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise Refused(400, "unknown_output", f"requested outputs {unknown} are not among the model's: {known}")
    return [str(n) for n in names]


def answer(model: Model, loaded: Loaded, values: NDArray[np.float32], requested: list[str] | None, request_id: Any) -> dict[str, Any]:
    outputs = []
    for name, size, datatype in loaded.info["answers"]:
        if requested is None or name in requested:
            data = values[loaded.answers[name]]
            convert = _OUTPUT_DTYPES[datatype]
            outputs.append({"name": name, "datatype": datatype, "shape": [1, size], "data": [convert(v) for v in data.tolist()]})
    body: dict[str, Any] = {"model_name": model.name, "model_version": loaded.release, "outputs": outputs}
    if request_id is not None:
        body["id"] = request_id
    return body


router = APIRouter(prefix="/v2", tags=["Open Inference Protocol"])


def serving(sidecar: Sidecar, name: str, version: str | None) -> tuple[Model, Loaded]:
    model = sidecar.models.get(name)
    if model is None:
        raise Refused(404, "unknown_model", f"no model {name!r} here; the models are {sorted(sidecar.models)}")
    loaded = model.active
    if loaded is None:
        raise Refused(503, "not_ready", f"model {name} is not ready: {model.not_ready}", retry_after=5)
    if version is not None and version != loaded.release:
        raise Refused(404, "unknown_version", f"model {name} serves version {loaded.release}, not {version!r}")
    return model, loaded


def _status_only(refused: Refused, status: int | None = None) -> Response:
    """A refusal of a metadata or health route: its status (or `status`) and message, not counted, no Retry-After."""
    return refusal.response(OIP_ROUTE, Refused(status or refused.status, refused.kind, refused.message))


@router.get("", responses={200: {"description": "server metadata"}})
async def server_metadata() -> Response:
    return json_response({"name": "hailo-inference", "version": __version__, "extensions": []})


@router.get("/health/live", responses={200: {"description": "the server answers"}})
async def live() -> Response:
    return Response(status_code=200)


@router.get("/health/ready", responses={200: {"description": "every model is ready"}, 400: {"description": "not ready"}})
async def ready(request: Request) -> Response:
    ok, reason = sidecar_of(request).models_ready()
    return Response(status_code=200) if ok else _status_only(Refused(400, "not_ready", reason))


@router.get("/models/{name}", responses={200: {"description": "model metadata"}, 404: {"description": "no such model"}})
@router.get("/models/{name}/versions/{version}", include_in_schema=False)
async def model_metadata(request: Request, name: str, version: str | None = None) -> Response:
    try:
        return json_response(metadata(*serving(sidecar_of(request), name, version)))
    except Refused as refused:
        return _status_only(refused)


@router.get("/models/{name}/ready", responses={200: {"description": "ready"}, 400: {"description": "not ready"}})
@router.get("/models/{name}/versions/{version}/ready", include_in_schema=False)
async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
    sidecar = sidecar_of(request)
    try:
        model, _ = serving(sidecar, name, version)
    except Refused as refused:
        return _status_only(refused, 400 if refused.status == 503 else None)
    ok, reason = sidecar.model_state(model)
    return Response(status_code=200) if ok else _status_only(Refused(400, "not_ready", f"model {name} is not ready: {reason}"))


@router.post(
    "/models/{name}/infer",
    responses={
        200: {"description": "the outputs"},
        400: {"description": "the request does not fit the model"},
        404: {"description": "no such model or version"},
        503: {"description": "not ready, overloaded (Retry-After), or the backend failed"},
    },
)
@router.post("/models/{name}/versions/{version}/infer", include_in_schema=False)
async def infer_route(name: str, request: Request, version: str | None = None) -> Response:
    sidecar = sidecar_of(request)

    async def prepare() -> Prepared:
        model, loaded = serving(sidecar, name, version)
        content_type = request.headers.get("content-type")
        if content_type is not None and not is_json(content_type):
            raise Refused(415, "content_type", "Content-Type must be application/json (or none)")
        if "inference-header-content-length" in request.headers:
            raise Refused(400, "binary_data", "the binary tensor data extension is not supported here: send the tensors as JSON")
        body = await read_body(request, sidecar.config.max_body_bytes)
        window, requested, request_id = parse_inputs(body, model, loaded)
        return loaded, window, lambda values: json_response(answer(model, loaded, values, requested, request_id))

    return await infer(request, OIP_ROUTE, name if name in sidecar.models else "unknown", prepare)
