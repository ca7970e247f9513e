"""The control routes: a release switch (which adds a model not served), a model's removal and the sidecar's
state, answered on the loopback control listener only (serve/control.py), never on EdgeInfer's network; left
out of the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve.control import CONTROL_HOST
from hailo_pipeline.serve.http import refusal
from hailo_pipeline.serve.http.exchange import json_response, sidecar_of
from hailo_pipeline.serve.http.refusal import CONTROL_ROUTE, Refused

router = APIRouter(prefix="/control", include_in_schema=False)


def _elsewhere(request: Request) -> Response | None:
    """A 404 unless the request came in on the control listener."""
    if tuple(request.scope.get("server") or ()) != (CONTROL_HOST, sidecar_of(request).config.control_port):
        return refusal.response(CONTROL_ROUTE, Refused(404, "not_found", "Not Found"))
    return None


@router.post("/switch")
async def switch(request: Request) -> Response:
    if (refused := _elsewhere(request)) is not None:
        return refused
    sidecar = sidecar_of(request)
    try:
        doc = orjson.loads(await request.body())
        release_dir, live_gate = Path(doc["release_dir"]), doc.get("live_gate", False)
        if not isinstance(live_gate, bool):
            raise TypeError(live_gate)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return refusal.response(
            CONTROL_ROUTE, Refused(400, "bad_request", 'body must be {"release_dir": "/models/releases/<release>", "live_gate": false}')
        )
    try:
        return json_response(await sidecar.switch(release_dir, live_gate))
    except PipelineError as exc:
        return refusal.response(CONTROL_ROUTE, Refused(409, "not_switched", str(exc), extra={"serving": sidecar.state()["models"]}))


@router.post("/remove")
async def remove(request: Request) -> Response:
    if (refused := _elsewhere(request)) is not None:
        return refused
    sidecar = sidecar_of(request)
    try:
        model = orjson.loads(await request.body())["model"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        model = None
    if not isinstance(model, str) or not model:
        return refusal.response(CONTROL_ROUTE, Refused(400, "bad_request", 'body must be {"model": "<name>"}'))
    try:
        return json_response(await sidecar.remove(model))
    except PipelineError as exc:
        return refusal.response(CONTROL_ROUTE, Refused(409, "not_removed", str(exc), extra={"serving": sidecar.state()["models"]}))


@router.get("/state")
async def state(request: Request) -> Response:
    return _elsewhere(request) or json_response(sidecar_of(request).state())
