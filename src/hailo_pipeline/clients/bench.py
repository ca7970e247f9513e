"""`hailo-pipeline bench URL`: closed-loop load on a running sidecar with EdgeInfer's request shape.

N clients on keep-alive connections each send the next request as soon as the last one is answered.
An answer counts as good only as EdgeInfer would take it: HTTP 200 and exactly 64 latent and 12 motif
values. One asyncio loop with pre-encoded requests keeps the load generator light, because on a small
machine it shares the CPU with the server it measures.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson

from hailo_pipeline.errors import PipelineError


@dataclass
class BenchResult:
    requests: int
    ok: int
    seconds: float
    throughput: float  # good answers per second
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    concurrency: int
    errors: dict[str, int] = field(default_factory=dict)
    answered_ms: list[float] = field(default_factory=list)  # each good answer's latency

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "answered_ms"}

    def summary(self) -> str:
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "none"
        return (
            f"{self.requests} requests, {self.concurrency} clients, {self.seconds:.1f} s: {self.throughput:.0f} req/s, "
            f"p50 {self.p50_ms:.2f} ms, p95 {self.p95_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, max {self.max_ms:.1f} ms; errors: {errors}"
        )


# A sensor at rest, z up: gravity on az, an earth field on the magnetometer (m/s^2, rad/s, uT).
RESTING = np.array([0, 0, 9.81, 0, 0, 0, 22, -8, 43], np.float32)


def request_window(rows: int = 100, seed: int = 0) -> np.ndarray:
    """A plausible raw window of EdgeInfer's motif request: noise around a resting sensor."""
    return (np.random.default_rng(seed).normal(0, 1, (rows, 9)).astype(np.float32) + RESTING).astype(np.float32)


def _judge(status: int, body: bytes) -> str | None:
    if status != 200:
        return f"http_{status}"
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "decode_error"
    if len(doc.get("latent", ())) != 64 or len(doc.get("motif_scores", ())) != 12:
        return "malformed_response"
    return None


async def _client(
    host: str, port: int, request: bytes, budget: list[int], latencies: list[float], answered: list[float], errors: Counter[str]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while budget[0] > 0:
            budget[0] -= 1
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            problem = _judge(status, body)
            if problem:
                errors[problem] += 1
            else:
                answered.append(latencies[-1] * 1000)
    finally:
        writer.close()


async def _run(url: str, body: bytes, concurrency: int, requests: int) -> BenchResult:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise PipelineError(f"bench needs an http:// URL such as http://127.0.0.1:9000/infer, got {url!r}")
    port = parts.port or 80
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.hostname}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode() + body
    budget, errors = [requests], Counter[str]()
    latencies: list[float] = []
    answered: list[float] = []
    started = time.perf_counter()
    try:
        await asyncio.gather(*(_client(parts.hostname, port, request, budget, latencies, answered, errors) for _ in range(concurrency)))
    except (OSError, asyncio.IncompleteReadError) as exc:
        raise PipelineError(f"bench lost the connection to {url}: {exc}") from None
    seconds = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    ok = len(latencies) - sum(errors.values())
    return BenchResult(
        requests=len(latencies),
        ok=ok,
        seconds=seconds,
        throughput=ok / seconds,
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        p99_ms=float(np.percentile(ms, 99)),
        max_ms=float(ms.max()),
        concurrency=concurrency,
        errors=dict(errors),
        answered_ms=answered,
    )


def bench(url: str, body: bytes, concurrency: int = 1, requests: int = 2000) -> BenchResult:
    if concurrency < 1 or requests < concurrency:
        raise PipelineError("bench needs --concurrency >= 1 and --requests >= --concurrency")
    try:  # a lighter loop leaves more of a small machine to the server being measured
        import uvloop
    except ImportError:
        return asyncio.run(_run(url, body, concurrency, requests))
    return uvloop.run(_run(url, body, concurrency, requests))
