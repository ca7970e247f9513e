"""The inference sidecar EdgeInfer calls: POST /infer, GET /healthz, GET /metrics (and OpenAPI at /docs).

Hot path: raw body -> orjson -> strict row check -> window fit -> the worker's queue -> orjson bytes.
No pydantic per request. Bad input is a 4xx saying what is wrong; only the backend or overload gives 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from hailo_pipeline import __version__
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve.engine import Engine, load_engine
from hailo_pipeline.serve.metrics import SidecarMetrics
from hailo_pipeline.serve.request_parser import RequestError, fit_window, parse_rows
from hailo_pipeline.serve.settings import SidecarConfig
from hailo_pipeline.serve.worker import BackendError, InferenceWorker, OverloadedError

log = logging.getLogger("hailo_pipeline.serve.app")
WARMUP_RUNS = 20
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


def _json(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status, headers, media_type="application/json")


class Sidecar:
    """What the app holds between requests: the engine, its worker, health and metrics."""

    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self.metrics = SidecarMetrics()
        self.engine: Engine | None = None
        self.worker: InferenceWorker | None = None
        self.not_ready = "loading the release"

    def start(self) -> None:
        c = self.config
        try:
            engine = load_engine(c.release_dir, c.backend, c.device, c.ort_threads, c.infer_timeout_ms)
        except PipelineError as exc:
            self.not_ready = str(exc)
            log.error("not ready: %s", exc)
            return
        log.info("release %s on %s (%s)", engine.release, engine.backend.name, engine.choice.reason)
        self.engine = engine
        resting = np.tile(engine.mean, (engine.window, 1))  # a window at the normalization mean
        for _ in range(WARMUP_RUNS):
            engine.infer(resting)
        check = engine.golden_check()
        if not check.passed:
            self.not_ready = f"{check.detail}: refusing to serve"
            log.error("not ready: %s", self.not_ready)
            return
        info = engine.info()
        self.metrics.model_info.labels(
            info["release"], info["backend"], str(info["versions"].get("hef_sdk")), str(info["versions"].get("hailort"))
        ).set(1)

        def probe() -> None:
            if not engine.golden_check().passed:
                raise BackendError("golden vectors do not reproduce")

        self.worker = InferenceWorker(engine.infer, probe, c.queue_limit, c.infer_timeout_ms / 1000, self.metrics.inference.observe)
        self.metrics.track_queue(self.worker.depth)
        self.not_ready = ""
        log.info("ready: %s", check.detail)

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        if self.engine is not None:
            self.engine.backend.close()

    def health(self) -> tuple[bool, str]:
        if self.not_ready or self.worker is None:
            return False, self.not_ready or "not started"
        problem = self.worker.problem()
        return problem is None, problem or "ready"


def create_app(config: SidecarConfig) -> FastAPI:
    sidecar = Sidecar(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(sidecar.start)
        yield
        await run_in_threadpool(sidecar.stop)  # uvicorn has drained in-flight requests; finish the queue

    app = FastAPI(title="hailo-inference", version=__version__, lifespan=lifespan, description=__doc__)
    app.state.sidecar = sidecar
    metrics = sidecar.metrics
    timeout_s = config.infer_timeout_ms / 1000

    answered = metrics.requests.labels("200")

    def refuse(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
        metrics.rejects.labels(kind).inc()
        metrics.requests.labels(str(status)).inc()
        return _json({"error": kind, "detail": message}, status, headers)

    @app.post(
        "/infer",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": INFER_BODY_SCHEMA}}}},
        responses=INFER_RESPONSES,
    )
    async def infer(request: Request) -> Response:
        started = time.perf_counter()
        engine, worker = sidecar.engine, sidecar.worker
        if engine is None or worker is None:
            return refuse(503, "not_ready", sidecar.not_ready, {"Retry-After": "5"})
        headers = request.headers
        if headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
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
            window, padded = fit_window(parse_rows(body), engine.window, config.short_window_policy)
            future = worker.submit(window)
        except RequestError as exc:
            return refuse(exc.status, exc.kind, exc.message)
        except OverloadedError as exc:
            return refuse(503, "overloaded", str(exc), {"Retry-After": "1"})
        try:
            latent, scores = await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except asyncio.TimeoutError:  # TimeoutError itself only from Python 3.11 on
            future.cancel()
            return refuse(503, "timeout", f"no answer from the {engine.backend.name} backend within {config.infer_timeout_ms} ms")
        except BackendError as exc:
            return refuse(503, "backend_error", str(exc))
        if padded:
            metrics.padded.inc()
        answered.inc()
        metrics.latency.observe(time.perf_counter() - started)
        return _json(
            {"latent": latent, "motif_scores": scores, "release": engine.release, "backend": engine.backend.name, "padded": padded}
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
        if sidecar.engine is not None:
            body |= sidecar.engine.info()
        return _json(body, 200 if ok else 503)

    @app.get("/metrics", responses={200: {"description": "Prometheus text format"}})
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
