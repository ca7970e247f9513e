"""The inference sidecar: EdgeInfer's POST /infer, GET /healthz, GET /metrics, the Open Inference Protocol
for every model (/v2, oip.py), OpenAPI at /docs; release switches on the loopback-only control listener.

Hot path: admission (before the body is read) -> raw body -> orjson -> strict row check -> window fit ->
the device process (device_host.py) -> orjson bytes. No pydantic per request. Bad input is a 4xx saying
what is wrong; only the backend, a model not ready or overload gives 503. The models and release switches:
models.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from hailo_pipeline import __version__
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve import oip
from hailo_pipeline.serve.control import CONTROL_HOST
from hailo_pipeline.serve.device_host import BackendError, OverloadedError
from hailo_pipeline.serve.device_process import OpenEngine, open_engine
from hailo_pipeline.serve.exchange import is_json, json_response, read_body
from hailo_pipeline.serve.models import Model, Sidecar
from hailo_pipeline.serve.request_parser import RequestError, fit_window, parse_rows
from hailo_pipeline.serve.settings import SidecarConfig

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

INFER_PATHS = ("/infer", "/infer/infer")
EDGEINFER_ROUTE = "edgeinfer"
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class AdmissionGate:
    """Refuses a window the device cannot answer in time before anything else is spent on it: no body read,
    no routing, a ready-made 503 with Retry-After (plain ASGI, in front of FastAPI). EdgeInfer's /infer and
    the protocol's /v2/models/{name}/infer alike, each at its model's pace."""

    def __init__(self, app: Any, sidecar: Sidecar) -> None:
        self.app, self.sidecar = app, sidecar

    def _target(self, path: str) -> tuple[Model | None, str]:
        if path in INFER_PATHS:
            return self.sidecar.edgeinfer, EDGEINFER_ROUTE
        name = oip.infer_path_model(path)
        return (self.sidecar.models.get(name), oip.ROUTE) if name is not None else (None, "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        model, route = self._target(scope["path"])
        serving = model.active if model is not None else None
        if serving is None:
            return await self.app(scope, receive, send)  # not an inference, or its model is not ready: the route says so
        assert model is not None
        content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"").decode("latin-1")
        problem = self.sidecar.host.refusal(serving.key) if is_json(content_type) else None  # a wrong type is a 415 first
        if problem is not None:
            self.sidecar.metrics.refused(model.name, route, 503, "overloaded")
            doc = {"error": "overloaded", "detail": problem} if route == EDGEINFER_ROUTE else {"error": problem}
            body = orjson.dumps(doc)
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"retry-after", b"1")]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return None
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


def create_app(config: SidecarConfig, opener: OpenEngine = open_engine) -> FastAPI:
    sidecar = Sidecar(config, opener)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sidecar.start()
        yield
        await sidecar.stop()  # uvicorn has drained in-flight requests; the device process ends last

    app = FastAPI(title="hailo-inference", version=__version__, lifespan=lifespan, description=__doc__)
    app.state.sidecar = sidecar
    app.add_middleware(AdmissionGate, sidecar=sidecar)
    app.include_router(oip.routes(sidecar))
    metrics = sidecar.metrics
    timeout_s = config.infer_timeout_ms / 1000
    control_listener = (CONTROL_HOST, config.control_port)

    edgeinfer = sidecar.edgeinfer  # fixed for the sidecar's life: its series are looked up once
    label = edgeinfer.name if edgeinfer is not None else "none"
    answered, latency, padded_windows = (
        metrics.requests.labels(label, EDGEINFER_ROUTE, "200"),
        metrics.latency.labels(label, EDGEINFER_ROUTE),
        metrics.padded.labels(label),
    )

    def refuse(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
        metrics.refused(label, EDGEINFER_ROUTE, status, kind)
        return json_response({"error": kind, "detail": message}, status, headers)

    # EdgeInfer's own /healthz (inference_capability) POSTs to MODEL_BACKEND_URL + "/infer": .../infer/infer with the
    # compose value. Answering it as /infer keeps EdgeInfer healthy (a 404 there makes its /healthz 503).
    @app.post("/infer/infer", include_in_schema=False)
    @app.post(
        "/infer",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": INFER_BODY_SCHEMA}}}},
        responses=INFER_RESPONSES,
    )
    async def infer(request: Request) -> Response:
        started = time.perf_counter()
        serving = edgeinfer.active if edgeinfer is not None else None
        if serving is None:
            reason = edgeinfer.not_ready if edgeinfer is not None else sidecar.edgeinfer_problem
            return refuse(503, "not_ready", reason, {"Retry-After": "5"})
        if not is_json(request.headers.get("content-type", "")):
            return refuse(415, "content_type", "Content-Type must be application/json")
        try:
            body = await read_body(request, config.max_body_bytes)
            window, padded = fit_window(parse_rows(body), serving.window, config.short_window_policy)
            future = sidecar.host.submit(serving.key, window)
        except RequestError as exc:
            return refuse(exc.status, exc.kind, exc.message)
        except OverloadedError as exc:
            return refuse(503, "overloaded", str(exc), {"Retry-After": "1"})
        try:
            answers = await asyncio.wait_for(future, timeout_s)
        except asyncio.TimeoutError:  # TimeoutError itself only from Python 3.11 on
            return refuse(503, "timeout", f"no answer from the {serving.info['backend']} backend within {config.infer_timeout_ms} ms")
        except BackendError as exc:
            return refuse(503, "backend_error", str(exc))
        if padded:
            padded_windows.inc()
        answered.inc()
        latency.observe(time.perf_counter() - started)
        latent, scores = serving.answers["latent"], serving.answers["motif_scores"]
        return json_response(
            {
                "latent": answers[latent],
                "motif_scores": answers[scores],
                "release": serving.release,
                "backend": serving.info["backend"],
                "padded": padded,
            }
        )

    @app.get(
        "/healthz",
        responses={
            200: {"description": "model loaded, warmed up, golden vectors passed"},
            503: {"description": "not ready (reason in body)"},
        },
    )
    async def healthz() -> Response:
        """200 only when every model is ready; `models` gives each one's state. The top-level release, backend and
        previous are EdgeInfer's model's (what a deploy's probe checks)."""
        ok, reason = sidecar.health()
        metrics.ready.set(1 if ok else 0)
        body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "reason": reason, "version": __version__}
        models = {model.name: model_health(model) for model in sidecar.models.values()}
        if edgeinfer is not None:
            body |= {key: value for key, value in models[edgeinfer.name].items() if key not in ("state", "reason")}
        body |= {"edgeinfer_model": label if edgeinfer is not None else None, "models": models}
        return json_response(body, 200 if ok else 503)

    def model_health(model: Model) -> dict[str, Any]:
        ready, reason = sidecar.model_state(model)
        state: dict[str, Any] = {"state": "ready" if ready else "unavailable", "reason": reason}
        if model.active is not None:
            state |= {key: model.active.info[key] for key in ("release", "backend", "backend_reason", "versions")}
            state["previous"] = model.previous and model.previous.release
        return state

    @app.get("/metrics", responses={200: {"description": "Prometheus text format"}})
    async def prometheus() -> Response:
        metrics.ready.set(1 if sidecar.health()[0] else 0)  # as of this scrape, whether or not /healthz was asked
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    def control_only(request: Request) -> Response | None:
        """The control routes answer on the loopback control listener only, never on EdgeInfer's network."""
        if tuple(request.scope.get("server") or ()) != control_listener:
            return json_response({"error": "not_found", "detail": "Not Found"}, 404)
        return None

    @app.post("/control/switch", include_in_schema=False)
    async def control_switch(request: Request) -> Response:
        if (refused := control_only(request)) is not None:
            return refused
        try:
            doc = orjson.loads(await request.body())
            release_dir = Path(doc["release_dir"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return json_response({"error": "bad_request", "detail": 'body must be {"release_dir": "/models/releases/<release>"}'}, 400)
        try:
            return json_response(await sidecar.switch(release_dir))
        except PipelineError as exc:
            return json_response({"error": "not_switched", "detail": str(exc), "serving": sidecar.state()["models"]}, 409)

    @app.get("/control/state", include_in_schema=False)
    async def control_state(request: Request) -> Response:
        return control_only(request) or json_response(sidecar.state())

    return app
