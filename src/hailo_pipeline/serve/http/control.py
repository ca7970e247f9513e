"""The control routes: a release switch and the sidecar's state, answered on the loopback control listener
only (serve/control.py), never on EdgeInfer's network; left out of the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve.control import CONTROL_HOST
from hailo_pipeline.serve.http.exchange import json_response, sidecar_of

router = APIRouter(prefix="/control", include_in_schema=False)


def _elsewhere(request: Request) -> Response | None:
    """A 404 unless the request came in on the control listener."""
    if tuple(request.scope.get("server") or ()) != (CONTROL_HOST, sidecar_of(request).config.control_port):
        return json_response({"error": "not_found", "detail": "Not Found"}, 404)
    return None


@router.post("/switch")
async def switch(request: Request) -> Response:
    if (refused := _elsewhere(request)) is not None:
        return refused
    sidecar = sidecar_of(request)
    try:
        doc = orjson.loads(await request.body())
        release_dir = Path(doc["release_dir"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return json_response({"error": "bad_request", "detail": 'body must be {"release_dir": "/models/releases/<release>"}'}, 400)
    try:
        return json_response(await sidecar.switch(release_dir))
    except PipelineError as exc:
        return json_response({"error": "not_switched", "detail": str(exc), "serving": sidecar.state()["models"]}, 409)


@router.get("/state")
async def state(request: Request) -> Response:
    return _elsewhere(request) or json_response(sidecar_of(request).state())
