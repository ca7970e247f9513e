"""The inference sidecar's app: EdgeInfer's POST /infer, GET /healthz, GET /metrics (edgeinfer.py), the Open
Inference Protocol for every model (/v2, oip.py), OpenAPI at /docs; release switches on the loopback-only
control listener (control.py). The routes are module-level routers; what they share between requests is
`app.state.sidecar` (host/models.py: the models, the device host, health and metrics).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from hailo_pipeline import __version__
from hailo_pipeline.serve.host.models import Model, Sidecar
from hailo_pipeline.serve.http import binary_tensors, control, edgeinfer, oip, refusal
from hailo_pipeline.serve.http.exchange import is_json
from hailo_pipeline.serve.http.refusal import EDGEINFER_ROUTE, OIP_ROUTE, Refused
from hailo_pipeline.serve.messages import OpenEngine
from hailo_pipeline.serve.settings import SidecarConfig

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


_HEADER_LENGTH = binary_tensors.HEADER.lower().encode()  # ASGI gives header names in lower case


def _readable(route: str, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the route reads a request with these headers (JSON for /infer; what oip.accepts for /v2)."""
    found = {k: v.decode("latin-1") for k, v in headers if k in (b"content-type", _HEADER_LENGTH)}
    content_type = found.get(b"content-type")
    if route == EDGEINFER_ROUTE:
        return content_type is not None and is_json(content_type)
    return oip.accepts(content_type, found.get(_HEADER_LENGTH))


class AdmissionGate:
    """Refuses a window the device cannot answer in time before anything else is spent on it: no body read,
    no routing, a ready-made 503 with Retry-After (plain ASGI, in front of FastAPI). EdgeInfer's /infer and
    the protocol's /v2/models/{name}/infer alike, each at its model's pace."""

    def __init__(self, app: Any, sidecar: Sidecar) -> None:
        self.app, self.sidecar = app, sidecar

    def _target(self, path: str) -> tuple[Model | None, str]:
        if path in edgeinfer.INFER_PATHS:
            return self.sidecar.edgeinfer, EDGEINFER_ROUTE
        name = oip.infer_path_model(path)
        return (self.sidecar.models.get(name), OIP_ROUTE) if name is not None else (None, "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        model, route = self._target(scope["path"])
        serving = model.active if model is not None else None
        if serving is None:
            return await self.app(scope, receive, send)  # not an inference, or its model is not ready: the route says so
        assert model is not None
        problem = self.sidecar.host.refusal(serving.key) if _readable(route, scope["headers"]) else None  # else a 415 first
        if problem is not None:
            self.sidecar.metrics.refused(model.name, route, 503, "overloaded")
            return await refusal.response(route, Refused(503, "overloaded", problem, retry_after=1))(scope, receive, send)
        return await self.app(scope, receive, self._timed(send, serving.key))

    def _timed(self, send: Send, key: int) -> Send:
        """send, telling the device host when an admitted window's answer went out against its estimate."""
        host, admitted, estimate = self.sidecar.host, time.perf_counter(), self.sidecar.host.estimate_s(key)
        answered = False

        async def timed(message: MutableMapping[str, Any]) -> None:
            nonlocal answered
            await send(message)
            if message["type"] == "http.response.start":
                answered = message["status"] == 200
            elif answered and not message.get("more_body", False):
                host.answered(estimate, time.perf_counter() - admitted)

        return timed


def create_app(config: SidecarConfig, opener: OpenEngine | None = None) -> FastAPI:
    """The sidecar's app on `config`; `opener` makes engines in the device process (None: the bundle's own)."""
    sidecar = Sidecar(config) if opener is None else Sidecar(config, opener)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sidecar.start()
        yield
        await sidecar.stop()  # uvicorn has drained in-flight requests; the device process ends last

    app = FastAPI(title="hailo-inference", version=__version__, lifespan=lifespan, description=__doc__)
    app.state.sidecar = sidecar
    app.add_middleware(AdmissionGate, sidecar=sidecar)
    app.include_router(oip.router)
    app.include_router(edgeinfer.router)
    app.include_router(control.router)
    return app
