"""What the sidecar's routes share: the app's state, the request body within its limit, JSON answers, and the
one path every inference route takes to the device (`infer`), which hands each answered window to its release's
input guard and its model's capture."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import orjson
from fastapi import Request
from fastapi.responses import Response
from numpy.typing import NDArray

from hailo_pipeline.serve.host.device_host import BackendError, Loaded, OverloadedError
from hailo_pipeline.serve.host.models import Sidecar
from hailo_pipeline.serve.http import refusal
from hailo_pipeline.serve.http.refusal import Refused

# What a route makes of its request before the device: the release to run, the window, and how to answer
# with the release's output.
Prepared = tuple[Loaded, NDArray[np.float32], Callable[[NDArray[np.float32]], Response]]


def sidecar_of(request: Request) -> Sidecar:
    sidecar: Sidecar = request.app.state.sidecar
    return sidecar


def json_response(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status, headers, media_type="application/json")


def is_json(content_type: str) -> bool:
    return content_type.partition(";")[0].strip().lower() == "application/json"


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused (413) once it is larger than MAX_BODY_BYTES: by its Content-Length before reading, or
    while reading a chunked one."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        if int(declared) > max_bytes:
            raise Refused(413, "body_too_large", f"body of {declared} bytes exceeds MAX_BODY_BYTES={max_bytes}")
        return await request.body()
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > max_bytes:
            raise Refused(413, "body_too_large", f"body exceeds MAX_BODY_BYTES={max_bytes}")
    return bytes(chunks)


async def infer(request: Request, route: str, model: str, prepare: Callable[[], Awaitable[Prepared]], watched: bool = True) -> Response:
    """Every inference route's one path: the route prepares its window (its model, content type, body), the
    device host takes it or refuses it (overloaded), the answer is awaited within INFER_TIMEOUT_MS; a refusal
    on the way is counted under `model` and `route` and answered in the route's dialect. An answered window goes to
    its release's input guard and its model's capture unless `watched` is False (a client's health check, not sensor
    data)."""
    sidecar = sidecar_of(request)
    started = time.perf_counter()
    try:
        loaded, window, answer = await prepare()
        try:
            future = sidecar.host.submit(loaded.key, window)
        except OverloadedError as exc:
            raise Refused(503, "overloaded", str(exc), retry_after=1) from None
        try:
            values = await asyncio.wait_for(future, sidecar.config.infer_timeout_ms / 1000)
        except asyncio.TimeoutError:  # TimeoutError itself only from Python 3.11 on
            ms = sidecar.config.infer_timeout_ms
            raise Refused(503, "timeout", f"no answer from the {loaded.info['backend']} backend within {ms} ms") from None
        except BackendError as exc:
            raise Refused(503, "backend_error", str(exc)) from None
    except Refused as refused:
        sidecar.metrics.refused(model, route, refused.status, refused.kind)
        return refusal.response(route, refused)
    sidecar.metrics.answered(model, route, time.perf_counter() - started)
    response = answer(values)
    if watched:  # after this turn of the loop, which sends the answer: never on the answer's time
        asyncio.get_running_loop().call_soon(sidecar.client_window, loaded.key, window)
    return response
