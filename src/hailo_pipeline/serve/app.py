"""The inference sidecar EdgeInfer calls: POST /infer, GET /healthz, GET /metrics (and OpenAPI at /docs);
release switches on the loopback-only control listener.

Hot path: admission (before the body is read) -> raw body -> orjson -> strict row check -> window fit ->
the device process (device_host.py) -> orjson bytes. No pydantic per request. Bad input is a 4xx saying
what is wrong; only the backend, a release not ready or overload gives 503.

A release switch loads the new release beside the serving one in the device process, golden-checks it
there while the old keeps answering, then moves /infer to it in one assignment on the event loop. The
release it replaced stays loaded, so switching back (a rollback) is instant.
"""

from __future__ import annotations

import asyncio
import gc
import logging
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
from hailo_pipeline.serve.backends import DeviceAccess
from hailo_pipeline.serve.control import CONTROL_HOST
from hailo_pipeline.serve.device_host import BackendError, DeviceHost, Loaded, LoadError, OverloadedError
from hailo_pipeline.serve.device_process import LoadRequest, OpenEngine, open_engine
from hailo_pipeline.serve.loop_watch import LoopWatch
from hailo_pipeline.serve.metrics import SidecarMetrics
from hailo_pipeline.serve.request_parser import RequestError, fit_window, parse_rows
from hailo_pipeline.serve.settings import SidecarConfig

log = logging.getLogger("hailo_pipeline.serve.app")
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
    200: {"description": "latent (64), motif_scores (12, each in [0, 1]), release, backend, padded rows"},
    400: {"description": "empty body or not JSON"},
    413: {"description": "body or row count too large"},
    415: {"description": "Content-Type is not application/json"},
    422: {"description": "rows are not 9 finite numbers each (the message says which)"},
    503: {"description": "not ready, overloaded (Retry-After), or the backend failed"},
}

INFER_PATHS = ("/infer", "/infer/infer")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _json(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status, headers, media_type="application/json")


def _is_json(content_type: str) -> bool:
    return content_type.partition(";")[0].strip().lower() == "application/json"


def _refusal(metrics: SidecarMetrics, status: int, kind: str, message: str) -> bytes:
    """Counts a refused /infer request and returns its body."""
    metrics.rejects.labels(kind).inc()
    metrics.requests.labels(str(status)).inc()
    return orjson.dumps({"error": kind, "detail": message})


class Sidecar:
    """What the app holds between requests: the device process, the release /infer serves, the one kept
    beside it for an instant switch back, health and metrics."""

    def __init__(self, config: SidecarConfig, opener: OpenEngine = open_engine) -> None:
        self.config = config
        self.metrics = SidecarMetrics()
        self.loop_watch = LoopWatch()
        self.host = DeviceHost(
            config.queue_limit,
            config.answer_deadline_ms / 1000,
            config.infer_timeout_ms / 1000,
            opener,
            self.metrics.inference.observe,
            self.loop_watch.turn_s,
        )
        self.active: Loaded | None = None
        self.previous: Loaded | None = None
        self.not_ready = "loading the release"
        self.switching = asyncio.Lock()

    def _request(self, release_dir: Path) -> LoadRequest:
        c = self.config
        access = DeviceAccess(c.device, c.multi_process_service)
        return LoadRequest(release_dir.resolve(), c.backend, access, c.ort_threads, c.infer_timeout_ms)

    async def start(self) -> None:
        self._watching = asyncio.create_task(self.loop_watch.run())
        await self.host.start()
        self.metrics.track_queue(self.host.depth)
        try:
            loaded = await self.host.load(self._request(self.config.release_dir))
        except PipelineError as exc:
            self.not_ready = str(exc)
            log.error("not ready: %s", exc)
            return
        self._activate(loaded)
        gc.freeze()  # what start-up made lives as long as the process: keep it out of every collection

    async def stop(self) -> None:
        self._watching.cancel()
        await self.host.stop()

    def _activate(self, loaded: Loaded) -> None:
        """/infer moves to `loaded`; the release it replaces becomes the one kept beside it."""
        replaced, kept = self.active, self.previous
        if kept is not None and kept is not loaded and kept is not replaced:
            self.host.unload(kept.key)
        self.active, self.previous = loaded, replaced if replaced is not loaded else kept
        self.not_ready = ""
        info = loaded.info
        self.metrics.model_info.clear()
        self.metrics.model_info.labels(
            info["release"], info["backend"], str(info["versions"].get("hef_sdk")), str(info["versions"].get("hailort"))
        ).set(1)
        log.info("serving %s on %s (%s); %s", loaded.release, info["backend"], info["backend_reason"], info["golden"])

    async def _load_beside(self, request: LoadRequest) -> tuple[Loaded, float | None]:
        """Loads a release beside the serving one. When the device cannot hold another network group, the kept
        release is unloaded first; when it cannot hold two, the serving one is (a quick switch: the gap, in
        seconds, is returned and 503 not_ready answers meanwhile)."""
        try:
            return await self.host.load(request), None
        except LoadError as exc:
            if not exc.device_full:
                raise
        if self.previous is not None:
            self.host.unload(self.previous.key)
            self.previous = None
            try:
                return await self.host.load(request), None
            except LoadError as exc:
                if not exc.device_full:
                    raise
        serving = self.active
        assert serving is not None
        gap_started = time.perf_counter()
        self.active, self.not_ready = None, f"switching to {request.release_dir.name}: the device holds one release at a time"
        self.host.unload(serving.key)
        try:
            loaded = await self.host.load(request)
        except PipelineError as failed:
            try:
                self._activate(await self.host.load(serving.request))
            except PipelineError as again:
                self.not_ready = f"{request.release_dir.name} did not load ({failed}), nor did {serving.release} again ({again})"
                raise PipelineError(self.not_ready) from failed
            raise
        return loaded, time.perf_counter() - gap_started

    async def switch(self, release_dir: Path) -> dict[str, Any]:
        """Serves `release_dir`, loaded beside the serving release unless it is the one kept loaded. A release that
        fails to load (checksums, contract, backend, golden vectors) leaves the serving one untouched."""
        request = self._request(release_dir)
        async with self.switching:
            started = time.perf_counter()
            was = self.active.release if self.active is not None else None
            if self.active is not None and self.active.request.release_dir == request.release_dir:
                return {"release": was, "previous": self.previous and self.previous.release, "switched": False, "loaded": False}
            gap: float | None = None
            if self.previous is not None and self.previous.request.release_dir == request.release_dir:
                target, loaded_now = self.previous, False
            elif self.active is None:
                target, loaded_now = await self.host.load(request), True
            else:
                (target, gap), loaded_now = await self._load_beside(request), True
            self._activate(target)
            return {
                "release": target.release,
                "previous": was,
                "switched": True,
                "loaded": loaded_now,
                "seconds": round(time.perf_counter() - started, 3),
                "gap_seconds": None if gap is None else round(gap, 3),
            }

    def state(self) -> dict[str, Any]:
        return {
            "active": self.active and self.active.release,
            "previous": self.previous and self.previous.release,
            "loaded": sorted(str(loaded.request.release_dir) for loaded in self.host.loaded.values()),
        }

    def health(self) -> tuple[bool, str]:
        if self.active is None:
            return False, self.not_ready or "not started"
        problem = self.host.problem(self.active.key)
        return problem is None, problem or "ready"


class AdmissionGate:
    """Refuses a window the device cannot answer in time before anything else is spent on it: no body read,
    no routing, a ready-made 503 with Retry-After (plain ASGI, in front of FastAPI)."""

    def __init__(self, app: Any, sidecar: Sidecar) -> None:
        self.app, self.sidecar = app, sidecar

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in INFER_PATHS and scope["method"] == "POST" and self.sidecar.active is not None:
            content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"").decode("latin-1")
            problem = self.sidecar.host.refusal() if _is_json(content_type) else None  # a wrong type is a 415 first
            if problem is not None:
                body = _refusal(self.sidecar.metrics, 503, "overloaded", problem)
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"retry-after", b"1")]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await self.app(scope, receive, self._timed(send))
            return
        await self.app(scope, receive, send)

    def _timed(self, send: Send) -> Send:
        """send, telling the device host when an admitted window's answer went out against its estimate."""
        host, admitted, estimate = self.sidecar.host, time.perf_counter(), self.sidecar.host.estimate_s()
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
    metrics = sidecar.metrics
    timeout_s = config.infer_timeout_ms / 1000
    control_listener = (CONTROL_HOST, config.control_port)

    answered = metrics.requests.labels("200")

    def refuse(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
        return Response(_refusal(metrics, status, kind, message), status, headers, media_type="application/json")

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
        serving = sidecar.active
        if serving is None:
            return refuse(503, "not_ready", sidecar.not_ready, {"Retry-After": "5"})
        headers = request.headers
        if not _is_json(headers.get("content-type", "")):
            return refuse(415, "content_type", "Content-Type must be application/json")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > config.max_body_bytes:
            return refuse(413, "body_too_large", f"body of {declared} bytes exceeds MAX_BODY_BYTES={config.max_body_bytes}")
        if declared.isdigit():
            body = await request.body()
        else:  # chunked: stop reading as soon as it is too large
            chunks = bytearray()
            async for chunk in request.stream():
                chunks += chunk
                if len(chunks) > config.max_body_bytes:
                    return refuse(413, "body_too_large", f"body exceeds MAX_BODY_BYTES={config.max_body_bytes}")
            body = bytes(chunks)
        try:
            window, padded = fit_window(parse_rows(body), serving.window, config.short_window_policy)
            future = sidecar.host.submit(serving.key, window)
        except RequestError as exc:
            return refuse(exc.status, exc.kind, exc.message)
        except OverloadedError as exc:
            return refuse(503, "overloaded", str(exc), {"Retry-After": "1"})
        try:
            latent, scores = await asyncio.wait_for(future, timeout_s)
        except asyncio.TimeoutError:  # TimeoutError itself only from Python 3.11 on
            return refuse(503, "timeout", f"no answer from the {serving.info['backend']} backend within {config.infer_timeout_ms} ms")
        except BackendError as exc:
            return refuse(503, "backend_error", str(exc))
        if padded:
            metrics.padded.inc()
        answered.inc()
        metrics.latency.observe(time.perf_counter() - started)
        return _json(
            {"latent": latent, "motif_scores": scores, "release": serving.release, "backend": serving.info["backend"], "padded": padded}
        )

    @app.get(
        "/healthz",
        responses={
            200: {"description": "model loaded, warmed up, golden vectors passed"},
            503: {"description": "not ready (reason in body)"},
        },
    )
    async def healthz() -> Response:
        ok, reason = sidecar.health()
        metrics.ready.set(1 if ok else 0)
        body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "reason": reason, "version": __version__}
        if sidecar.active is not None:
            info = sidecar.active.info
            body |= {key: info[key] for key in ("release", "backend", "backend_reason", "versions")}
            body["previous"] = sidecar.previous and sidecar.previous.release
        return _json(body, 200 if ok else 503)

    @app.get("/metrics", responses={200: {"description": "Prometheus text format"}})
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    def control_only(request: Request) -> Response | None:
        """The control routes answer on the loopback control listener only, never on EdgeInfer's network."""
        if tuple(request.scope.get("server") or ()) != control_listener:
            return _json({"error": "not_found", "detail": "Not Found"}, 404)
        return None

    @app.post("/control/switch", include_in_schema=False)
    async def control_switch(request: Request) -> Response:
        if (refused := control_only(request)) is not None:
            return refused
        try:
            doc = orjson.loads(await request.body())
            release_dir = Path(doc["release_dir"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _json({"error": "bad_request", "detail": 'body must be {"release_dir": "/models/releases/<release>"}'}, 400)
        try:
            return _json(await sidecar.switch(release_dir))
        except PipelineError as exc:
            serving = sidecar.active.release if sidecar.active else None
            return _json({"error": "not_switched", "detail": str(exc), "serving": serving}, 409)

    @app.get("/control/state", include_in_schema=False)
    async def control_state(request: Request) -> Response:
        return control_only(request) or _json(sidecar.state())

    return app
