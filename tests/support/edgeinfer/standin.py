"""EdgeInfer stand-in (tests only): calls the sidecar exactly as EdgeInfer does and counts real and stub answers.

Modelled on EdgeInfer's own Swift source (pisrv_vapor_docker, EdgeInfer/): ModelInference/ModelInferenceService.swift
and Health/HealthCheckService.swift at 0e7bf45, configure.swift at 249e140a (the fact sheet's HEAD), and the
libraries it runs on, Vapor 4 (Client+Concurrency, ClientResponse, ContentConfiguration, HTTPMediaType) and
AsyncHTTPClient (the HTTP/1.1 connection pool and request state machine), all read, none built. The stored
EdgeInfer files are not all from one commit (its Models.swift there lacks the IMUData ModelInferenceService
takes); the wire format is ModelInferenceService's own IMUWindow(x: [[Float]]). Where the fact sheet
(reference-repos.md section 1) is less precise than that source, the source is followed, as noted below.

Configuration, EdgeInfer's (its .env), read once at start as EdgeInfer reads the same values on every call:
  USE_REAL_MODEL      only the exact string "true" enables the sidecar; anything else is stub mode.
  MODEL_BACKEND_URL   default http://hailo-inference:9000/infer. POSTed to exactly as given (no path added).
  BACKEND_TIMEOUT_MS  default 1500. Parsed as Swift's Int(String) does (optional sign, digits only); anything
                      else means 1500. A negative value makes EdgeInfer trap at its first real call; so does this.
The stand-in's own, for tests and benchmarks (EdgeInfer has none of them):
  STANDIN_PORT                default 8080 (EdgeInfer's is hard-coded to 0.0.0.0:8080). Tests only.
  STANDIN_HEALTH_INTERVAL_S   default 30: ModelInferenceService.healthCheckInterval. Tests only, to shorten it.
  STANDIN_READ_TIMEOUT_MS     default 45: configure.swift's read timeout. Only for a sidecar under CPU emulation
                              (molecule/arm64), where everything takes many times as long as on a Pi.
  STANDIN_DRIVE_HZ            default 0 (off): a built-in client making that many analyze calls a second.
  STANDIN_DRIVE_WINDOW        a JSON file {"x": rows} the driver sends; default a generated 100x9 resting window.
  STANDIN_HEALTH_INFERENCE_CAPABILITY
                              "true" adds /healthz's inference_capability check (see below); default off.

One sidecar call (ModelInferenceService.analyzeIMUWindow), in this order:
- USE_REAL_MODEL is not "true": a stub, reason stub_mode, no call.
- The breaker, a process-wide backendHealthy flag (initially true) and lastHealthCheck (initially never):
  call for real when the flag is set or the last health check was less than 30 s ago; otherwise set
  lastHealthCheck to now, GET the health URL (MODEL_BACKEND_URL before its first "/infer", plus "/healthz";
  only status 200 is healthy, the body is ignored), store the result in the flag, and when it is false answer
  a stub with reason backend_unhealthy (no call). So after a failed check, calls go to the sidecar again for
  the next 30 s; only the first call after each 30 s runs a check. Nothing synchronises these two variables
  in EdgeInfer, nor here.
- POST {"x": rows} to MODEL_BACKEND_URL with Content-Type "application/json; charset=utf-8", the values as
  Swift Floats (float32) written with the fewest digits that read back as the same float32 (the numbers are
  Swift's; exponent notation may differ). A success (real answer) sets the flag; any failure clears it and
  answers a random stub (latent U[-1,1] x 64, scores U[0.1,0.95] x 12). No retries.
- The BACKEND_TIMEOUT_MS race: EdgeInfer's withTimeout runs the client call against a Task.sleep in a task
  group. The timeout wins when the sleep ends first, but the client call (an EventLoopFuture awaited with
  .get()) ignores cancellation and the task group awaits it, so the answer comes only when the call itself
  has ended (its own timeouts below bound that). Modelled as exactly that: the call runs to its end, and it is
  a timeout when it took BACKEND_TIMEOUT_MS or more. Status check and decoding happen after the race.
- Failure labels (EdgeInfer's classifyInferenceError): timeout (the race); http_<code> (any status but 200);
  malformed_response (not exactly 64 latent and 12 motif_scores values); decode_error (Swift's DecodingError:
  a JSON body that is not JSON, not an object, lacks a key, holds a null, a non-number or a number beyond
  Float's range; and any text/plain body); unknown_error (everything else: connection refused or reset,
  the 45 ms read timeout, no free connection within 2 s, a 200 with an empty body (Vapor's lengthRequired),
  a 200 without a Content-Type or with one Vapor has no decoder for (unsupportedMediaType), an unparsable
  response). Plus the stand-in's two for answers without a call: stub_mode and backend_unhealthy.

Vapor's HTTP client, AsyncHTTPClient with EdgeInfer's configure.swift settings (connect 2 s, read 45 ms) and
its other defaults:
- The read timeout is AsyncHTTPClient's idle read timeout: armed once the request is fully sent, reset by every
  read, so the sidecar may take at most 45 ms to start answering and leave no gap of 45 ms or more.
- Connections: HTTP/1.1 keep-alive, pooled per host and port, reused between calls (the health checks share
  the pool), at most 8 at once (the pool's soft limit; further calls wait for one), closed after 60 s idle,
  after a response with "Connection: close" or read to EOF, and after any failure. A pooled connection the
  sidecar has closed (or sent unexpected bytes on) is dropped before it is used, as AsyncHTTPClient drops a
  connection the moment its channel goes inactive, and the call goes on an idle or a new connection; nothing
  has been sent on it, so nothing is re-sent. A connection that dies once the request is on it fails that
  call (unknown_error, AsyncHTTPClient's remoteConnectionClosed), with no retry, as AsyncHTTPClient does.
- A connection that cannot be made is retried with AsyncHTTPClient's backoff (100 ms x 1.25^(n-1), 3% jitter,
  n the pool's consecutive failures) until the call's connection deadline, 2 s after it started; only then
  does the call fail. So with the sidecar down each real call takes about 2 s: with BACKEND_TIMEOUT_MS below
  2000 it is a timeout (the race ended first), otherwise unknown_error; a health check takes as long.
  Simplified: a connection made by one call serves that call (AsyncHTTPClient gives it to whichever request
  waits), and a call that gives up ends its backoff (AsyncHTTPClient's backoff timer would run on).
- Not modelled: https, redirects (AsyncHTTPClient follows them; a 3xx here is http_3xx), the Host lookup's
  happy eyeballs, form-encoded and multipart answer bodies (counted decode_error; Vapor would try to decode them).
  AsyncHTTPClient has no write timeout; sends here give up after 10 s so that a stuck sidecar cannot hang one.

Endpoints:
  POST /analyze {"x": rows} -> {"real": bool, "reason": null or a label, "latent": [...], "motif_scores": [...]}
      One call as above (EdgeInfer's /motifs and /synchrony, without their sessions), values as float32.
  GET /healthz, HEAD /healthz, GET /health/detailed: EdgeInfer's (configure.swift, HealthCheckService). Checks:
      service (healthy); hailo_backend, always, even in stub mode: GET the health URL through the same client,
      200 healthy, any other status degraded, no answer (refused, 2 s, 45 ms read timeout) unhealthy;
      inference_capability: "stub" unless USE_REAL_MODEL is "true". EdgeInfer then POSTs 100x9 values
      U[-1,1] to MODEL_BACKEND_URL + "/infer" (".../infer/infer" with the compose value, which our sidecar
      answers as /infer; any other sidecar's 404 there makes every real-mode /healthz 503): the stand-in does that only with
      STANDIN_HEALTH_INFERENCE_CAPABILITY=true and otherwise reports it as "not_modelled", counted as neither
      healthy nor not; system_resources (healthy). Any unhealthy check: 503, otherwise 200. GET /healthz
      answers JSON ({status, timestamp, version "1.0.0", uptime, checks}) when an Accept value matches
      application/json as Vapor's HTTPMediaType == matches (wildcards included: "*/*", curl's default, and
      "application/*" match; no Accept header does not), otherwise text "OK" (healthy) or "DEGRADED" (degraded
      and unhealthy alike) with Connection: close. HEAD: the status only. /health/detailed: the JSON, always 200.
      uptime counts from the first health check (Swift initialises the static appStartTime on first use).
  GET /counters -> {"real": n, "stub": {reason: n}, "stub_events": [[unix_time, reason], ...] (the last 2000),
      "hidden_causes": [[unix_time, reason, cause], ...], "started": unix_time}. POST /counters/reset zeroes every
      counter and sets "started" to now. hidden_causes says what EdgeInfer's label hides for each timeout,
      unknown_error and backend_unhealthy stub (the call's own outcome, or the breaker's failed health check): read_timeout;
      "answered <code>" (in time for the client, after BACKEND_TIMEOUT_MS), or "answered <code> after N failed
      connects (error)" when the call could not connect at first; http_<code>; or the client's error, such as a
      refused connection.
  GET /metrics -> Prometheus text: edgeinfer_standin_answers_total{kind="real"} and
      {kind="stub",reason="..."}, the breaker flag, the driver's calls, and EdgeInfer's own two sidecar series as
      its PrometheusMetrics writes them (hailo_inference_requests_total{operation,status},
      hailo_inference_errors_total{error_type}); EdgeInfer's other series are not kept.

The driver (STANDIN_DRIVE_HZ > 0) calls as EdgeInfer's clients do: on a fixed-rate schedule (call k is due at
start + k/HZ), each call on its own thread without waiting for the previous one, so slow answers do not slow
the rate; it calls the analyze path directly (not over HTTP) and its answers land in the same counters. The
default window: a sensor at rest, gravity 9.81 m/s^2 on az and the earth field (22, -8, 43) uT on the
magnetometer, with small fixed-seed noise on every channel.

Python 3.10 or later, standard library only, one file; started as `python3 /app/standin.py`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# ---------------------------------------------------------------------------------------------------- settings


def _swift_int(text: str | None) -> int | None:
    """Swift's Int(String): an optional sign and ASCII digits, within Int64; anything else is nil."""
    if text is None or not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


USE_REAL_MODEL = os.environ.get("USE_REAL_MODEL") == "true"
BACKEND_URL = os.environ.get("MODEL_BACKEND_URL", "http://hailo-inference:9000/infer")
_timeout_ms = _swift_int(os.environ.get("BACKEND_TIMEOUT_MS"))
BACKEND_TIMEOUT_MS = 1500 if _timeout_ms is None else _timeout_ms
# components(separatedBy: "/infer").first, plus /healthz. HealthCheckService's own fallback for an unset
# MODEL_BACKEND_URL (http://hailo-inference:9000) gives the same health URL.
HEALTH_URL = BACKEND_URL.split("/infer", 1)[0] + "/healthz"
# HealthCheckService's inference_capability check appends /infer to MODEL_BACKEND_URL (fallback without /infer).
CAPABILITY_URL = os.environ.get("MODEL_BACKEND_URL", "http://hailo-inference:9000") + "/infer"
HEALTH_INTERVAL_S = float(os.environ.get("STANDIN_HEALTH_INTERVAL_S", "30"))
PORT = int(os.environ.get("STANDIN_PORT", "8080"))
DRIVE_HZ = float(os.environ.get("STANDIN_DRIVE_HZ", "0"))
DRIVE_WINDOW = os.environ.get("STANDIN_DRIVE_WINDOW")
CAPABILITY_CHECK = os.environ.get("STANDIN_HEALTH_INFERENCE_CAPABILITY") == "true"

# Vapor's client as configure.swift sets it, and AsyncHTTPClient's defaults.
CONNECT_TIMEOUT_S = 2.0  # also each call's connection deadline (connectionCreationTimeout)
READ_TIMEOUT_S = int(os.environ.get("STANDIN_READ_TIMEOUT_MS", "45")) / 1000  # idle read timeout
POOL_SOFT_LIMIT = 8  # concurrentHTTP1ConnectionsPerHostSoftLimit
POOL_IDLE_TIMEOUT_S = 60.0  # connectionPool.idleTimeout
WRITE_GIVE_UP_S = 10.0  # not AsyncHTTPClient's (it has no write timeout): keeps a stuck sidecar from hanging a call

LATENT_SIZE = 64
MOTIF_COUNT = 12
FLOAT_MAX = 3.4028234663852886e38  # Float.greatestFiniteMagnitude
FIXED_REASONS = ("timeout", "malformed_response", "decode_error", "unknown_error", "stub_mode", "backend_unhealthy")
STUB_EVENTS_KEPT = 2000
DRIVER_MAX_IN_FLIGHT = 1000

# ---------------------------------------------------------------------------------------------- Swift Floats

_F32 = struct.Struct("<f")


def _f32(value: float) -> float:
    """Float(value): the nearest float32 (value within Float's range)."""
    return float(_F32.unpack(_F32.pack(value))[0])


def _f32_text(value: float) -> str:
    """A float32 with the fewest significant digits that read back as it, as Swift writes a Float."""
    lo, hi = 1, 9
    while lo < hi:
        mid = (lo + hi) // 2
        if _f32(float(f"{value:.{mid}g}")) == value:
            hi = mid
        else:
            lo = mid + 1
    return f"{value:.{lo}g}"


def _floats_json(values: list[float]) -> str:
    return "[" + ",".join(_f32_text(v) for v in values) + "]"


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _to_f32(value: float) -> float:
    if math.isnan(value) or abs(value) > FLOAT_MAX:
        raise ValueError(f"{value} does not fit in Float")
    return _f32(value)


def _window_body(rows: list[list[float]]) -> bytes:
    """IMUWindow(x: rows) as Vapor's JSONEncoder writes it: compact, the values as Floats."""
    return ('{"x":[' + ",".join(_floats_json([_to_f32(v) for v in row]) for row in rows) + "]}").encode()


# --------------------------------------------------------------------------------------- the HTTP client


class ClientError(Exception):
    """A failure of Vapor's client itself (AsyncHTTPClient or NIO): EdgeInfer labels it unknown_error."""


class ReadTimeoutError(ClientError):
    """HTTPClientError.readTimeout: 45 ms without a byte while an answer was due."""


class _Response:
    def __init__(self, status: int, headers: dict[str, list[str]], body: bytes | None) -> None:
        self.status = status
        self.headers = headers
        self.body = body  # None when the answer had no body bytes, as AsyncHTTPClient's ResponseAccumulator
        self.failed_connects: list[str] = []  # connection attempts this call made and failed before it got one

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


class _Connection:
    def __init__(self, sock: socket.socket, failed_connects: list[str] | None = None) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.idle_since = time.monotonic()
        self.failed_connects = failed_connects or []  # the attempts that failed before this connection was made

    def usable(self, now: float) -> bool:
        """Still open and quiet: what AsyncHTTPClient's pool keeps as an idle connection."""
        if now - self.idle_since >= POOL_IDLE_TIMEOUT_S or self.buffer:
            return False
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable  # readable while idle: the peer closed it, or sent bytes nobody asked for

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _backoff_s(failed_attempts: int) -> float:
    """AsyncHTTPClient's connection backoff: 100 ms x 1.25^(n-1), capped at 60 s, 3% jitter."""
    base = min(0.1 * 1.25 ** (failed_attempts - 1), 60.0)
    return base + random.uniform(-0.03, 0.03) * base


class _Pool:
    """AsyncHTTPClient's HTTP/1.1 connection pool for one host and port, in threads."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.cond = threading.Condition()
        self.idle: list[_Connection] = []
        self.in_use = 0  # leased or being made
        self.failed_attempts = 0  # consecutive, pool-wide; reset by a connection made
        self.last_error: Exception | None = None
        threading.Thread(target=self._reap, name=f"pool-{host}:{port}", daemon=True).start()

    def _reap(self) -> None:
        while True:
            time.sleep(1.0)
            now = time.monotonic()
            with self.cond:
                stale = [c for c in self.idle if now - c.idle_since >= POOL_IDLE_TIMEOUT_S]
                self.idle = [c for c in self.idle if c not in stale]
            for connection in stale:
                connection.close()

    def lease(self, deadline: float) -> _Connection:
        with self.cond:
            while True:
                now = time.monotonic()
                while self.idle:
                    connection = self.idle.pop()
                    if connection.usable(now):
                        self.in_use += 1
                        return connection
                    connection.close()
                if self.in_use < POOL_SOFT_LIMIT:
                    self.in_use += 1
                    break
                if now >= deadline:
                    raise ClientError(f"no connection to {self.host}:{self.port} within 2 s: {self.last_error or 'pool busy'}")
                self.cond.wait(deadline - now)
        try:
            return self._connect(deadline)
        except BaseException:
            self._give_back(None)
            raise

    def _connect(self, deadline: float) -> _Connection:
        failed: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClientError(f"connect to {self.host}:{self.port}: {self.last_error or 'connect timeout'}")
            try:
                sock = socket.create_connection((self.host, self.port), timeout=min(CONNECT_TIMEOUT_S, remaining))
            except OSError as exc:
                failed.append(str(exc))
                with self.cond:
                    self.failed_attempts += 1
                    self.last_error = exc
                    backoff = _backoff_s(self.failed_attempts)
                time.sleep(max(0.0, min(backoff, deadline - time.monotonic())))
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.cond:
                self.failed_attempts = 0
                self.last_error = None
            return _Connection(sock, failed)

    def _give_back(self, connection: _Connection | None) -> None:
        with self.cond:
            self.in_use -= 1
            if connection is not None:
                connection.idle_since = time.monotonic()
                self.idle.append(connection)
            self.cond.notify()

    def release(self, connection: _Connection, reusable: bool) -> None:
        if not reusable:
            connection.close()
        self._give_back(connection if reusable else None)


_pools: dict[tuple[str, int], _Pool] = {}
_pools_lock = threading.Lock()


def _pool(host: str, port: int) -> _Pool:
    with _pools_lock:
        if (host, port) not in _pools:
            _pools[(host, port)] = _Pool(host, port)
        return _pools[(host, port)]


def _recv(connection: _Connection) -> bytes:
    try:
        chunk = connection.sock.recv(65536)
    except TimeoutError as exc:
        raise ReadTimeoutError(f"no byte from the sidecar for {READ_TIMEOUT_S * 1000:.0f} ms") from exc
    except OSError as exc:
        raise ClientError(f"read: {exc}") from exc
    return chunk


def _read_until(connection: _Connection, marker: bytes) -> bytes:
    while (at := connection.buffer.find(marker)) < 0:
        chunk = _recv(connection)
        if not chunk:
            raise ClientError("remote connection closed")
        connection.buffer += chunk
    line = bytes(connection.buffer[:at])
    del connection.buffer[: at + len(marker)]
    return line


def _read_exactly(connection: _Connection, size: int) -> bytes:
    while len(connection.buffer) < size:
        chunk = _recv(connection)
        if not chunk:
            raise ClientError("remote connection closed before the end of the body")
        connection.buffer += chunk
    data = bytes(connection.buffer[:size])
    del connection.buffer[:size]
    return data


def _read_response(connection: _Connection, method: str) -> tuple[_Response, bool]:
    """One HTTP/1.1 response (after any 1xx), and whether the connection may carry another request."""
    while True:
        head = _read_until(connection, b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        match = re.fullmatch(r"HTTP/1\.([01]) ([0-9]{3})(?: .*)?", status_line)
        if not match:
            raise ClientError(f"unparsable status line {status_line!r}")
        minor, status = match.group(1), int(match.group(2))
        headers: dict[str, list[str]] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise ClientError(f"unparsable header {line!r}")
            headers.setdefault(name.lower(), []).append(value.strip())
        if 100 <= status < 200 and status != 101:
            continue
        break
    tokens = {t.strip().lower() for v in headers.get("connection", []) for t in v.split(",")}
    reusable = "close" not in tokens and (minor == "1" or "keep-alive" in tokens)
    if method == "HEAD" or status in (101, 204, 304) or 100 <= status < 200:
        body = b""
    elif any("chunked" in v.lower() for v in headers.get("transfer-encoding", [])):
        parts = []
        while True:
            size_line = _read_until(connection, b"\r\n").split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError as exc:
                raise ClientError(f"bad chunk size {size_line!r}") from exc
            if size == 0:
                while _read_until(connection, b"\r\n"):  # trailers
                    pass
                break
            parts.append(_read_exactly(connection, size))
            _read_exactly(connection, 2)
        body = b"".join(parts)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"][0])
        except ValueError as exc:
            raise ClientError("bad Content-Length") from exc
        body = _read_exactly(connection, length)
    else:  # EOF-terminated
        while chunk := _recv(connection):
            connection.buffer += chunk
        body, reusable = bytes(connection.buffer), False
        connection.buffer.clear()
    if connection.buffer:  # bytes after the answer: the connection is not trusted again
        reusable = False
    return _Response(status, headers, body or None), reusable


def http_request(method: str, url: str, body: bytes | None = None, content_type: str | None = None) -> _Response:
    """One request through Vapor's client (req.client.get/post): ClientError on any failure of the client."""
    parts = urlsplit(url)
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise ClientError(f"{url} is an invalid URL") from exc
    if parts.scheme != "http" or not parts.hostname:
        raise ClientError(f"{url}: only http:// URLs with a host are modelled")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.hostname if port == 80 else f"{parts.hostname}:{port}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}"]
    if body is not None:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")

    pool = _pool(parts.hostname, port)
    connection = pool.lease(time.monotonic() + CONNECT_TIMEOUT_S)
    reusable = False
    try:
        try:
            connection.sock.settimeout(WRITE_GIVE_UP_S)
            connection.sock.sendall(request)
        except OSError as exc:
            raise ClientError(f"write: {exc}") from exc
        connection.sock.settimeout(READ_TIMEOUT_S)
        response, reusable = _read_response(connection, method)
        response.failed_connects, connection.failed_connects = connection.failed_connects, []
        return response
    finally:
        pool.release(connection, reusable)


# ------------------------------------------------------------------------------- decoding, as Vapor does


class DecodingError(Exception):
    """Swift's DecodingError: EdgeInfer labels it decode_error."""


def _content_type(value: str | None) -> tuple[str, str] | None:
    """HTTPHeaders.contentType: type and subtype, or None when Vapor cannot parse one."""
    if value is None:
        return None
    first, *params = value.split(",")[0].split(";")
    kind = first.split("/")
    if "=" in first or len(kind) != 2 or any("=" not in p for p in params):
        return None
    return kind[0].strip(), kind[1].strip()


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _float_array(doc: dict[str, Any], key: str) -> list[float]:
    if key not in doc:
        raise DecodingError(f"keyNotFound: {key}")
    values = doc[key]
    if values is None:
        raise DecodingError(f"valueNotFound: {key}")
    if not isinstance(values, list):
        raise DecodingError(f"typeMismatch: {key} is not an array")
    floats = []
    for value in values:
        if value is None:
            raise DecodingError(f"valueNotFound: an element of {key}")
        if not _number(value):
            raise DecodingError(f"typeMismatch: an element of {key} is not a number")
        if abs(value) > FLOAT_MAX:
            raise DecodingError(f"dataCorrupted: {value} does not fit in Float")
        floats.append(_f32(float(value)))
    return floats


def decode_result(response: _Response) -> tuple[list[float], list[float]]:
    """response.content.decode(ModelInferenceResult.self): latent and motif_scores as Floats."""
    if response.body is None:
        raise ClientError("Abort(.lengthRequired): the answer has no body")
    media = _content_type(response.header("content-type"))
    # ContentConfiguration's decoders, looked up in a dictionary keyed by a case-sensitive hash.
    if media in (("application", "json"), ("application", "vnd.api+json")):
        try:
            doc = json.loads(response.body.decode("utf-8"), parse_constant=_reject_constant)
        except ValueError as exc:
            raise DecodingError(f"dataCorrupted: {exc}") from exc
        if not isinstance(doc, dict):
            raise DecodingError("typeMismatch: the answer is not a JSON object")
        return _float_array(doc, "latent"), _float_array(doc, "motif_scores")
    if media == ("text", "plain"):
        raise DecodingError("typeMismatch: Plaintext decoding does not support dictionaries.")
    if media in (("application", "x-www-form-urlencoded"), ("multipart", "form-data")):
        raise DecodingError("form bodies are not decoded by the stand-in")
    raise ClientError(f"Abort(.unsupportedMediaType): {response.header('content-type')!r}")


# --------------------------------------------------------------------------------------------- counters


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.real = 0
            self.stub: Counter[str] = Counter({reason: 0 for reason in FIXED_REASONS})
            self.stub_events: deque[tuple[float, str]] = deque(maxlen=STUB_EVENTS_KEPT)
            self.hidden_causes: deque[tuple[float, str, str]] = deque(maxlen=STUB_EVENTS_KEPT)
            self.started = time.time()
            self.driver_calls = 0
            self.driver_skipped = 0
            # EdgeInfer's PrometheusMetrics: hailoInferenceCounts and hailoErrorCounts.
            self.hailo_requests: Counter[tuple[str, str]] = Counter()
            self.hailo_errors: Counter[str] = Counter()

    def answer(self, reason: str | None) -> None:
        with self.lock:
            if reason is None:
                self.real += 1
            else:
                self.stub[reason] += 1
                self.stub_events.append((time.time(), reason))

    def sidecar_call(self, error_type: str | None) -> None:
        with self.lock:
            self.hailo_requests["tcn_vae_inference", "failure" if error_type else "success"] += 1
            if error_type:
                self.hailo_errors[error_type] += 1
                self.hailo_errors["backend_hailo" if "9000" in BACKEND_URL else "backend_unknown"] += 1

    def hidden_cause(self, reason: str, cause: str) -> None:
        with self.lock:
            self.hidden_causes.append((time.time(), reason, cause))

    def sidecar_health(self, healthy: bool) -> None:
        with self.lock:
            self.hailo_requests["hailo_sidecar", "healthy" if healthy else "unhealthy"] += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "real": self.real,
                "stub": dict(self.stub),
                "stub_events": [[t, reason] for t, reason in self.stub_events],
                "hidden_causes": [[t, reason, cause] for t, reason, cause in self.hidden_causes],
                "started": self.started,
            }

    def prometheus(self) -> str:
        with self.lock:
            lines = [
                "# HELP edgeinfer_standin_answers_total Analyze answers: real ones, and stubs by reason.",
                "# TYPE edgeinfer_standin_answers_total counter",
                f'edgeinfer_standin_answers_total{{kind="real"}} {self.real}',
                *(f'edgeinfer_standin_answers_total{{kind="stub",reason="{r}"}} {n}' for r, n in sorted(self.stub.items())),
                "# HELP edgeinfer_standin_started_time_seconds When the counters started (process start or last reset).",
                "# TYPE edgeinfer_standin_started_time_seconds gauge",
                f"edgeinfer_standin_started_time_seconds {self.started}",
                "# HELP edgeinfer_standin_backend_healthy ModelInferenceService.backendHealthy.",
                "# TYPE edgeinfer_standin_backend_healthy gauge",
                f"edgeinfer_standin_backend_healthy {int(_backend_healthy)}",
                "# HELP edgeinfer_standin_driver_calls_total Calls the built-in driver made, and slots it skipped.",
                "# TYPE edgeinfer_standin_driver_calls_total counter",
                f'edgeinfer_standin_driver_calls_total{{outcome="made"}} {self.driver_calls}',
                f'edgeinfer_standin_driver_calls_total{{outcome="skipped"}} {self.driver_skipped}',
                "# HELP hailo_inference_requests_total Total Hailo inference requests by operation and status",
                "# TYPE hailo_inference_requests_total counter",
                *(
                    f'hailo_inference_requests_total{{operation="{op}",status="{status}"}} {n}'
                    for (op, status), n in sorted(self.hailo_requests.items())
                ),
                "# HELP hailo_inference_errors_total Hailo inference errors by type",
                "# TYPE hailo_inference_errors_total counter",
                *(f'hailo_inference_errors_total{{error_type="{e}"}} {n}' for e, n in sorted(self.hailo_errors.items())),
            ]
        return "\n".join(lines) + "\n"


COUNTERS = Counters()

# ------------------------------------------------------------------------------- ModelInferenceService


class ModelTimeoutError(Exception):
    """ModelInferenceError.timeout: the BACKEND_TIMEOUT_MS race ended first."""


class BackendError(Exception):
    """ModelInferenceError.backendError(status)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class MalformedResponseError(Exception):
    """ModelInferenceError.malformedResponse: not 64 latent and 12 motif scores."""


_backend_healthy = True
_last_health_check = -math.inf  # Date.distantPast


def _stub() -> tuple[list[float], list[float]]:
    return (
        [_f32(random.uniform(-1, 1)) for _ in range(LATENT_SIZE)],
        [_f32(random.uniform(0.1, 0.95)) for _ in range(MOTIF_COUNT)],
    )


def _classify(error: BaseException) -> str:
    if isinstance(error, ModelTimeoutError):
        return "timeout"
    if isinstance(error, BackendError):
        return f"http_{error.status}"
    if isinstance(error, MalformedResponseError):
        return "malformed_response"
    if isinstance(error, DecodingError):
        return "decode_error"
    return "unknown_error"


def _cause(outcome: _Response | ClientError) -> str:
    """What a failed call or health check met, in words EdgeInfer does not keep."""
    if isinstance(outcome, ReadTimeoutError):
        return "read_timeout"
    if isinstance(outcome, ClientError):
        return str(outcome)
    return f"http_{outcome.status}"


def _late_cause(outcome: _Response | ClientError) -> str:
    """Why a call ran past BACKEND_TIMEOUT_MS: an answer after failed connection attempts (a sidecar that was
    not there at first), a late answer, or the call's own failure."""
    if not isinstance(outcome, _Response):
        return _cause(outcome)
    if outcome.failed_connects:
        return f"answered {outcome.status} after {len(outcome.failed_connects)} failed connects ({outcome.failed_connects[-1]})"
    return f"answered {outcome.status}"


def _check_backend_health() -> bool:
    try:
        response = http_request("GET", HEALTH_URL)
    except ClientError as exc:
        COUNTERS.hidden_cause("backend_unhealthy", _cause(exc))
        return False
    if response.status != 200:
        COUNTERS.hidden_cause("backend_unhealthy", _cause(response))
    return response.status == 200


def _should_attempt_real_inference() -> bool:
    global _backend_healthy, _last_health_check
    if _backend_healthy or time.monotonic() - _last_health_check < HEALTH_INTERVAL_S:
        return True
    _last_health_check = time.monotonic()
    healthy = _check_backend_health()
    _backend_healthy = healthy
    return healthy


def _perform_real_inference(body: bytes) -> tuple[list[float], list[float]]:
    started = time.monotonic()
    outcome: _Response | ClientError
    try:
        outcome = http_request("POST", BACKEND_URL, body, "application/json; charset=utf-8")
    except ClientError as exc:
        outcome = exc
    if (time.monotonic() - started) * 1000 >= BACKEND_TIMEOUT_MS:
        COUNTERS.hidden_cause("timeout", _late_cause(outcome))
        raise ModelTimeoutError(f"no answer within {BACKEND_TIMEOUT_MS} ms")
    if isinstance(outcome, ClientError):
        raise outcome
    if outcome.status != 200:
        raise BackendError(outcome.status)
    latent, scores = decode_result(outcome)
    if len(latent) != LATENT_SIZE or len(scores) != MOTIF_COUNT:
        raise MalformedResponseError(f"{len(latent)} latent values and {len(scores)} motif scores")
    return latent, scores


def analyze(body: bytes) -> tuple[list[float], list[float], str | None]:
    """ModelInferenceService.analyzeIMUWindow on an encoded window: latent, motif scores, and None or the stub's reason."""
    global _backend_healthy
    reason: str | None
    if not USE_REAL_MODEL:
        reason = "stub_mode"
    elif not _should_attempt_real_inference():
        reason = "backend_unhealthy"
    else:
        if BACKEND_TIMEOUT_MS * 1_000_000 >= 2**64 or BACKEND_TIMEOUT_MS < 0:
            # UInt64(seconds * 1_000_000_000) in withTimeout traps on a negative or oversized value.
            print(f"edgeinfer-standin: BACKEND_TIMEOUT_MS={BACKEND_TIMEOUT_MS} traps in EdgeInfer's withTimeout", file=sys.stderr)
            os._exit(134)
        try:
            latent, scores = _perform_real_inference(body)
        except Exception as exc:
            reason = _classify(exc)
            if reason == "unknown_error":
                COUNTERS.hidden_cause(reason, _cause(exc) if isinstance(exc, ClientError) else f"{type(exc).__name__}: {exc}")
            COUNTERS.sidecar_call(reason)
            _backend_healthy = False
        else:
            COUNTERS.sidecar_call(None)
            _backend_healthy = True
            COUNTERS.answer(None)
            return latent, scores, None
    COUNTERS.answer(reason)
    return (*_stub(), reason)


# ---------------------------------------------------------------------------------- HealthCheckService

_app_start_time: float | None = None


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _check(status: str, message: str, started: float, latency_ms: int | None = None) -> dict[str, Any]:
    check: dict[str, Any] = {"status": status, "message": message}
    if latency_ms is not None:
        check["latency_ms"] = latency_ms
    check["last_checked"] = _iso(started)
    return check


def _check_hailo_backend() -> dict[str, Any]:
    started, t0 = time.time(), time.monotonic()
    try:
        response = http_request("GET", HEALTH_URL)
    except ClientError as exc:
        latency = int((time.monotonic() - t0) * 1000)
        return _check("unhealthy", f"Cannot connect to Hailo backend: {exc}", started, None if latency > 5000 else latency)
    latency = int((time.monotonic() - t0) * 1000)
    if response.status == 200:
        return _check("healthy", "Hailo backend responding", started, latency)
    return _check("degraded", f"Hailo backend returned status {response.status}", started, latency)


def _check_inference_capability() -> dict[str, Any]:
    started, t0 = time.time(), time.monotonic()
    window = [[random.uniform(-1, 1) for _ in range(9)] for _ in range(100)]
    try:
        response = http_request("POST", CAPABILITY_URL, _window_body(window), "application/json; charset=utf-8")
        latency = int((time.monotonic() - t0) * 1000)
        if response.status != 200:
            return _check("unhealthy", f"Inference request failed with status {response.status}", started, latency)
        latent, scores = decode_result(response)
    except (ClientError, DecodingError) as exc:
        latency = int((time.monotonic() - t0) * 1000)
        return _check("unhealthy", f"Inference capability test failed: {exc}", started, None if latency > 5000 else latency)
    if len(latent) == LATENT_SIZE and len(scores) == MOTIF_COUNT:
        return _check("healthy", "Inference pipeline operational", started, latency)
    return _check("degraded", "Inference returned malformed response", started, latency)


def health_status() -> dict[str, Any]:
    """HealthCheckService.performHealthCheck."""
    global _app_start_time
    started = time.time()
    checks = {"service": _check("healthy", "EdgeInfer service operational", started)}
    checks["hailo_backend"] = _check_hailo_backend()
    COUNTERS.sidecar_health(checks["hailo_backend"]["status"] == "healthy")
    if not USE_REAL_MODEL:
        checks["inference_capability"] = _check("stub", "Running in stub mode (USE_REAL_MODEL=false)", started)
    elif CAPABILITY_CHECK:
        checks["inference_capability"] = _check_inference_capability()
    else:
        checks["inference_capability"] = _check(
            "not_modelled", "EdgeInfer POSTs to MODEL_BACKEND_URL + /infer here (STANDIN_HEALTH_INFERENCE_CAPABILITY=true)", started
        )
    checks["system_resources"] = _check("healthy", "System resources within normal limits", started, 1)
    statuses = {check["status"] for check in checks.values()}
    overall = "unhealthy" if "unhealthy" in statuses else "degraded" if "degraded" in statuses else "healthy"
    now = time.time()
    if _app_start_time is None:
        _app_start_time = time.time()
    return {"status": overall, "timestamp": _iso(started), "version": "1.0.0", "uptime": now - _app_start_time, "checks": checks}


def accepts_json(accept_headers: list[str]) -> bool:
    """req.headers.accept.contains { $0.mediaType == .json }, with HTTPMediaType's wildcard ==."""
    for header in accept_headers:
        for value in header.split(","):
            first, *params = value.split(";")
            kind = first.split("/")
            if "=" in first or len(kind) != 2 or any("=" not in p for p in params):
                continue
            main, sub = kind[0].strip().lower(), kind[1].strip().lower()
            if main == "*" or (main == "application" and sub in ("*", "json")):
                return True
    return False


# ------------------------------------------------------------------------------------------ the driver


def _resting_window(rows: int = 100) -> list[list[float]]:
    """A sensor at rest, z up: gravity on az, an earth field on the magnetometer, small noise (m/s^2, rad/s, uT)."""
    rng = random.Random(0)
    rest = (0.0, 0.0, 9.81, 0.0, 0.0, 0.0, 22.0, -8.0, 43.0)
    noise = (0.02, 0.02, 0.02, 0.002, 0.002, 0.002, 0.2, 0.2, 0.2)
    return [[r + rng.gauss(0.0, n) for r, n in zip(rest, noise, strict=True)] for _ in range(rows)]


def _drive(hz: float, body: bytes) -> None:
    in_flight = threading.BoundedSemaphore(DRIVER_MAX_IN_FLIGHT)

    def call() -> None:
        try:
            analyze(body)
        finally:
            in_flight.release()

    period, start, k = 1.0 / hz, time.monotonic(), 0
    while True:
        delay = start + k * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif -delay > period:  # this thread fell more than a slot behind: skip the slots it missed
            missed = int(-delay / period)
            k += missed
            with COUNTERS.lock:
                COUNTERS.driver_skipped += missed
            continue
        k += 1
        if not in_flight.acquire(blocking=False):
            with COUNTERS.lock:
                COUNTERS.driver_skipped += 1
            continue
        with COUNTERS.lock:
            COUNTERS.driver_calls += 1
        threading.Thread(target=call, daemon=True).start()


# ---------------------------------------------------------------------------------------------- server


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: bytes, content_type: str, close: bool = False, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", "0" if head else str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        return self.rfile.read(int(length)) if length and length.isdigit() else b""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            health = health_status()
            status = 503 if health["status"] == "unhealthy" else 200
            if accepts_json(self.headers.get_all("Accept") or []):
                return self._json(status, health)
            text = b"OK" if health["status"] == "healthy" else b"DEGRADED"
            return self._send(status, text, "text/plain; charset=utf-8", close=True)
        if path == "/health/detailed":
            return self._json(200, health_status())
        if path == "/counters":
            return self._json(200, COUNTERS.snapshot())
        if path == "/metrics":
            return self._send(200, COUNTERS.prometheus().encode(), "text/plain; version=0.0.4; charset=utf-8")
        return self._json(404, {"error": True, "reason": "Not Found"})

    def do_HEAD(self) -> None:
        if self.path.split("?", 1)[0] != "/healthz":
            return self._send(404, b"", "text/plain; charset=utf-8", head=True)
        status = 503 if health_status()["status"] == "unhealthy" else 200
        return self._send(status, b"", "text/plain; charset=utf-8", close=True, head=True)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()
        if path == "/counters/reset":
            COUNTERS.reset()
            return self._json(200, COUNTERS.snapshot())
        if path != "/analyze":
            return self._json(404, {"error": True, "reason": "Not Found"})
        try:
            rows = json.loads(body, parse_constant=_reject_constant)["x"]
            if not isinstance(rows, list) or not all(isinstance(r, list) and all(_number(v) for v in r) for r in rows):
                raise ValueError("x must be a list of rows of numbers")
            window = _window_body(rows)
        except (ValueError, KeyError, TypeError) as exc:
            return self._json(400, {"error": True, "reason": f"not an IMU window: {exc}"})
        latent, scores, reason = analyze(window)
        answer = (
            f'{{"real":{"true" if reason is None else "false"},"reason":{json.dumps(reason)},'
            f'"latent":{_floats_json(latent)},"motif_scores":{_floats_json(scores)}}}'
        )
        return self._send(200, answer.encode(), "application/json; charset=utf-8")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _drive_window() -> bytes:
    if DRIVE_WINDOW:
        with open(DRIVE_WINDOW) as f:
            return _window_body(json.load(f)["x"])
    return _window_body(_resting_window())


def main() -> None:
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True
    if DRIVE_HZ > 0:
        threading.Thread(target=_drive, args=(DRIVE_HZ, _drive_window()), name="driver", daemon=True).start()
    print(
        f"edgeinfer-standin: 0.0.0.0:{PORT} USE_REAL_MODEL={'true' if USE_REAL_MODEL else 'false'} "
        f"MODEL_BACKEND_URL={BACKEND_URL} BACKEND_TIMEOUT_MS={BACKEND_TIMEOUT_MS} health {HEALTH_URL} "
        f"every {HEALTH_INTERVAL_S:g} s, driver {DRIVE_HZ:g} Hz",
        file=sys.stderr,
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
