"""EdgeInfer's routes: POST /infer (its MODEL_BACKEND_URL), GET /healthz, GET /metrics.

Hot path: admission (before the body is read: app.AdmissionGate) -> raw body -> orjson -> strict row check
-> window fit (request_parser.py) -> the device process (exchange.infer) -> orjson bytes. No pydantic per
request. Bad input is a 4xx saying what is wrong; only the backend, a model not ready or overload gives 503.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response
from numpy.typing import NDArray

from hailo_pipeline import __version__
from hailo_pipeline.serve.host.models import Model, Sidecar
from hailo_pipeline.serve.http.exchange import Prepared, infer, is_json, json_response, read_body, sidecar_of
from hailo_pipeline.serve.http.refusal import EDGEINFER_ROUTE, Refused
from hailo_pipeline.serve.http.request_parser import fit_window, parse_rows

INFER_BODY_SCHEMA = {
    "type": "object",
    "required": ["x"],
    "properties": {
        "x": {
            "type": "array",
            "minItems": 1,
            "maxItems": 2000,
            "items": {"type": "array", "minItems": 9, "maxItems": 9, "items": {"type": "number"}},
            "description": "rows [ax, ay, az, gx, gy, gz, mx, my, mz] in m/s^2, rad/s, uT; oldest first",
        }
    },
}
INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "latent (64), motif_scores (12, each in [0, 1]), release, backend, padded rows (EdgeInfer's model)"},
    400: {"description": "empty body or not JSON"},
    413: {"description": "body or row count too large"},
    415: {"description": "Content-Type is not application/json"},
    422: {"description": "rows are not 9 finite numbers each (the message says which)"},
    503: {"description": "not ready, overloaded (Retry-After), or the backend failed"},
}
CAPABILITY_PATH = "/infer/infer"  # where EdgeInfer's health check POSTs (below)
INFER_PATHS = ("/infer", CAPABILITY_PATH)

router = APIRouter()


def edgeinfer_label(sidecar: Sidecar) -> str:
    """The `model` label of /infer's series: EdgeInfer's model as bound now (another when its own is removed)."""
    return sidecar.edgeinfer.name if sidecar.edgeinfer is not None else "none"


# EdgeInfer's own /healthz (inference_capability) POSTs to MODEL_BACKEND_URL + "/infer": .../infer/infer with the
# compose value. Answering it as /infer keeps EdgeInfer healthy (a 404 there makes its /healthz 503). Its window is
# uniform noise in [-1, 1], not sensor data: the input guard does not count it.
@router.post(CAPABILITY_PATH, include_in_schema=False)
@router.post(
    "/infer",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": INFER_BODY_SCHEMA}}}},
    responses=INFER_RESPONSES,
)
async def infer_route(request: Request) -> Response:
    sidecar = sidecar_of(request)
    edgeinfer, config, label = sidecar.edgeinfer, sidecar.config, edgeinfer_label(sidecar)

    async def prepare() -> Prepared:
        serving = edgeinfer.active if edgeinfer is not None else None
        if serving is None:
            raise Refused(503, "not_ready", edgeinfer.not_ready if edgeinfer is not None else sidecar.edgeinfer_problem, retry_after=5)
        if not is_json(request.headers.get("content-type", "")):
            raise Refused(415, "content_type", "Content-Type must be application/json")
        body = await read_body(request, config.max_body_bytes)
        window, padded = fit_window(parse_rows(body), serving.window, config.short_window_policy)

        def answer(values: NDArray[np.float32]) -> Response:
            if padded:
                sidecar.metrics.padded.labels(label).inc()
            latent, scores = serving.answers["latent"], serving.answers["motif_scores"]
            backend = serving.info["backend"]
            return json_response(
                {"latent": values[latent], "motif_scores": values[scores], "release": serving.release, "backend": backend, "padded": padded}
            )

        return serving, window, answer

    return await infer(request, EDGEINFER_ROUTE, label, prepare, watched=request.scope["path"] != CAPABILITY_PATH)


@router.get(
    "/healthz",
    responses={
        200: {"description": "model loaded, warmed up, golden vectors passed"},
        503: {"description": "not ready (reason in body)"},
    },
)
async def healthz(request: Request) -> Response:
    """200 only when every model is ready; `models` gives each one's state. The top-level release, backend and
    previous are EdgeInfer's model's (what a deploy's probe checks), and so is `input`: the input guard's warnings,
    which do not affect readiness."""
    sidecar = sidecar_of(request)
    ok, reason = sidecar.health()
    sidecar.metrics.ready.set(1 if ok else 0)
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "reason": reason, "version": __version__}
    models = {model.name: _model_health(sidecar, model) for model in sidecar.models.values()}
    edgeinfer = sidecar.edgeinfer
    if edgeinfer is not None:
        body |= {key: value for key, value in models[edgeinfer.name].items() if key not in ("state", "reason")}
    body |= {"edgeinfer_model": edgeinfer.name if edgeinfer is not None else None, "models": models}
    return json_response(body, 200 if ok else 503)


def _model_health(sidecar: Sidecar, model: Model) -> dict[str, Any]:
    ready, reason = sidecar.model_state(model)
    state: dict[str, Any] = {"state": "ready" if ready else "unavailable", "reason": reason}
    if model.active is not None:
        keys = ("release", "backend", "backend_reason", "versions", "client_units", "golden", "live_gate")
        state |= {key: model.active.info[key] for key in keys}
        state["previous"] = model.previous and model.previous.release
    warnings = sidecar.input_warnings(model)
    if warnings is not None:  # what clients send, against the calibration: never a reason to be unready
        state["input"] = warnings
    return state


@router.get("/metrics", responses={200: {"description": "Prometheus text format"}})
async def prometheus(request: Request) -> Response:
    sidecar = sidecar_of(request)
    sidecar.metrics.ready.set(1 if sidecar.health()[0] else 0)  # as of this scrape, whether or not /healthz was asked
    return Response(sidecar.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
