"""The Open Inference Protocol (KServe v2, as Triton, KServe, MLServer and Seldon speak it), REST/JSON, for
every model the sidecar serves (issue #17):

  GET  /v2                                          server metadata: name, version, extensions (binary_tensor_data)
  GET  /v2/health/live                              200
  GET  /v2/health/ready                             200 when every model is ready, else 400
  GET  /v2/models/{name}[/versions/{v}]             name, versions (the release), platform, inputs, outputs
  GET  /v2/models/{name}[/versions/{v}]/ready       200, else 400
  POST /v2/models/{name}[/versions/{v}]/infer       {"inputs": [{"name", "shape", "datatype": "FP32", "data"}]}
                                                    -> {"model_name", "model_version", "outputs": [...]}

The protocol's health answers are status codes (200 true, 4xx false); a false one carries {"error": why}.
Server readiness is the models' (EdgeInfer's /infer binding is /healthz's business). A request without a
Content-Type is read as JSON (tritonclient sends none). The binary tensor data extension (binary_tensors.py) is
spoken both ways: a body with the Inference-Header-Content-Length header is JSON followed by its inputs' bytes
(Content-Type none, JSON or application/octet-stream), and outputs asked for as binary data come back so.
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
from hailo_pipeline.serve.http import binary_tensors, refusal
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


def parse_inputs(body: bytes, model: Model, loaded: Loaded, header_length: str | None) -> tuple[NDArray[np.float32], dict[str, bool], Any]:
    """The request's one input as a raw (H, T, 9) window, the outputs to answer (name: as binary data?), and its
    id. `header_length`: the Inference-Header-Content-Length header (None: the body is all JSON)."""
    header, binary = (body, b"") if header_length is None else binary_tensors.split_body(body, header_length)
    try:
        doc = orjson.loads(header)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, "bad_json", f"body is not valid JSON: {exc}") from None
    meta = loaded.info["input"]  # name and shape of the release that will run it
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list) or len(doc["inputs"]) != 1:
        raise Refused(
            400, "bad_inputs", f'body must be {{"inputs": [one tensor]}}; model {model.name} takes {meta["name"]} {meta["shape"]} FP32'
        )
    raw = binary_tensors.slice_inputs(doc["inputs"], binary)[0]
    tensor = doc["inputs"][0]
    if not isinstance(tensor, dict) or not {"name", "shape", "datatype"} <= set(tensor) or (raw is None and "data" not in tensor):
        raise Refused(400, "bad_tensor", 'the input tensor needs "name", "shape", "datatype" and "data" (or parameters.binary_data_size)')
    if tensor["name"] != meta["name"]:
        raise Refused(400, "unknown_input", f"model {model.name} has no input {tensor['name']!r}; its input is {meta['name']!r}")
    if tensor["datatype"] != "FP32":
        raise Refused(400, "bad_datatype", f"input {meta['name']} is FP32, not {tensor['datatype']!r}")
    if tensor["shape"] != meta["shape"]:
        raise Refused(400, "bad_shape", f"input {meta['name']} has shape {meta['shape']} ([1, H, T, 9]), not {tensor['shape']}")
    window = _json_window(tensor["data"], meta) if raw is None else binary_tensors.decode(raw, meta["name"], "FP32", meta["shape"])[0]
    if not np.isfinite(window).all():
        raise Refused(400, "not_finite", f"input {meta['name']} holds values that are not finite float32 numbers")
    return window, _requested_outputs(doc, loaded), doc.get("id")


def _json_window(values: Any, meta: dict[str, Any]) -> NDArray[np.float32]:
    """The input's JSON "data" (flat or nested to its shape) as its window, float32."""
    try:
        data = np.asarray(values)
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
    with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused as not finite
        return data.astype(np.float32).reshape(meta["shape"][1:])


def _requested_outputs(doc: dict[str, Any], loaded: Loaded) -> dict[str, bool]:
    """The outputs to answer, in the request's order (all, in the model's, when it names none): as binary data?"""
    known = list(loaded.answers)
    if "outputs" not in doc:
        return binary_tensors.binary_outputs(doc, known)
    if not isinstance(doc["outputs"], list):
        raise Refused(400, "bad_outputs", '"outputs" must be a list of {"name": output}')
    names = [o.get("name") if isinstance(o, dict) else None for o in doc["outputs"]]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise Refused(400, "unknown_output", f"requested outputs {unknown} are not among the model's: {known}")
    return binary_tensors.binary_outputs(doc, [str(n) for n in names])


def answer(model: Model, loaded: Loaded, values: NDArray[np.float32], outputs: dict[str, bool], request_id: Any) -> Response:
    """The outputs asked for, in the model's order: JSON, or JSON then the binary ones' bytes."""
    entries, binary = [], []
    for name, size, datatype in loaded.info["answers"]:
        if name not in outputs:
            continue
        data = values[loaded.answers[name]]
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": [1, size]}
        if outputs[name]:
            binary.append(binary_tensors.encode(data, datatype))
            entry["parameters"] = {"binary_data_size": len(binary[-1])}
        else:
            convert = _OUTPUT_DTYPES[datatype]
            entry["data"] = [convert(v) for v in data.tolist()]
        entries.append(entry)
    doc: dict[str, Any] = {"model_name": model.name, "model_version": loaded.release, "outputs": entries}
    if request_id is not None:
        doc["id"] = request_id
    if not binary:
        return json_response(doc)
    content, headers = binary_tensors.body(orjson.dumps(doc), binary)
    return Response(content, 200, headers, media_type=binary_tensors.CONTENT_TYPE)


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


def accepts(content_type: str | None, header_length: str | None) -> bool:
    """Whether an inference request's Content-Type is one this route reads: none, JSON, or binary tensors' with
    their header length (the admission gate asks too, so that a refusal for the type comes first)."""
    if content_type is None or is_json(content_type):
        return True
    return header_length is not None and content_type.partition(";")[0].strip().lower() == binary_tensors.CONTENT_TYPE


def _status_only(refused: Refused, status: int | None = None) -> Response:
    """A refusal of a metadata or health route: its status (or `status`) and message, not counted, no Retry-After."""
    return refusal.response(OIP_ROUTE, Refused(status or refused.status, refused.kind, refused.message))


@router.get("", responses={200: {"description": "server metadata"}})
async def server_metadata() -> Response:
    return json_response({"name": "hailo-inference", "version": __version__, "extensions": [binary_tensors.EXTENSION]})


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
        content_type, header_length = request.headers.get("content-type"), request.headers.get(binary_tensors.HEADER)
        if not accepts(content_type, header_length):
            raise Refused(
                415,
                "content_type",
                f"Content-Type must be application/json (or none), or {binary_tensors.CONTENT_TYPE} with {binary_tensors.HEADER}",
            )
        body = await read_body(request, sidecar.config.max_body_bytes)
        window, outputs, request_id = parse_inputs(body, model, loaded, header_length)
        return loaded, window, lambda values: answer(model, loaded, values, outputs, request_id)

    return await infer(request, OIP_ROUTE, name if name in sidecar.models else "unknown", prepare)
