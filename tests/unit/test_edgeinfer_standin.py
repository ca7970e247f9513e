"""tests/support/edgeinfer/standin.py as EdgeInfer: real HTTP on loopback between the stand-in (a subprocess) and a fake
sidecar that answers well, slowly, in pieces, 503, malformed, not JSON, or is not there at all."""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, SAMPLES

STANDIN = REPO_ROOT / "tests/support/edgeinfer/standin.py"
GOOD = {"latent": [0.5] * 64, "motif_scores": [0.25] * 12, "release": "r1"}  # extra keys are ignored
WINDOW = json.loads((SAMPLES / "realistic_imu_sample.json").read_text())["x"]
TRICKLE_PIECES, TRICKLE_GAP_S = 10, 0.015  # an answer in pieces: each gap well under 45 ms, the whole well over


def _f32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------ the fake sidecar


class FakeSidecar(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _SidecarHandler)
        self.infer_path = "/infer"
        self.infer_mode = "good"
        self.health_status = 200
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def hits(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for m, p, _, _ in self.requests if m == method and p == path)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the stand-in hangs up on a slow answer: a broken pipe here is expected


class _SidecarHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeSidecar

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self, body: bytes = b"") -> None:
        with self.server.lock:
            self.server.requests.append((self.command, self.path, dict(self.headers.items()), body))

    def _reply(self, status: int, body: bytes, content_type: str | None = "application/json", close: bool = False) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._record()
        if self.path.endswith("/healthz"):
            self._reply(self.server.health_status, b'{"status": "ok"}')
        else:
            self._reply(404, b'{"detail": "Not Found"}')

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._record(body)
        if self.path != self.server.infer_path:
            return self._reply(404, b'{"detail": "Not Found"}')
        mode, good = self.server.infer_mode, json.dumps(GOOD).encode()
        if mode == "good":
            self._reply(200, good)
        elif mode == "slow":
            time.sleep(0.1)
            self._reply(200, good)
        elif mode == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(good)))
            self.end_headers()
            step = len(good) // TRICKLE_PIECES + 1
            for at in range(0, len(good), step):
                time.sleep(TRICKLE_GAP_S)
                self.wfile.write(good[at : at + step])
        elif mode == "503":
            self._reply(503, b'{"error": "overloaded"}')
        elif mode == "malformed":
            self._reply(200, json.dumps({"latent": [0.5] * 63, "motif_scores": [0.25] * 12}).encode())
        elif mode == "not_json":
            self._reply(200, b"this is not JSON")
        elif mode == "text":
            self._reply(200, good, "text/plain; charset=utf-8")
        elif mode == "no_content_type":
            self._reply(200, good, None)
        elif mode == "empty":
            self._reply(200, b"")
        elif mode == "close":  # says so
            self._reply(200, good, close=True)
        elif mode == "drop":  # hangs up after answering, as a server's keep-alive timeout does, without saying so
            self._reply(200, good)
            self.close_connection = True
        else:
            raise AssertionError(mode)


@pytest.fixture
def sidecar() -> Iterator[FakeSidecar]:
    server = FakeSidecar()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------------------------------ the stand-in


class Standin:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        response.read()
        connection.close()
        return response

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, response.getheader("Content-Type") or "", data

    def analyze(self, rows: list[list[float]] = WINDOW) -> dict[str, Any]:
        status, _, data = self.call("POST", "/analyze", json.dumps({"x": rows}).encode(), {"Content-Type": "application/json"})
        assert status == 200, data
        answer: dict[str, Any] = json.loads(data)
        return answer

    def timed_analyze(self) -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        answer = self.analyze()
        return answer, time.monotonic() - started

    def counters(self) -> dict[str, Any]:
        counters: dict[str, Any] = json.loads(self.call("GET", "/counters")[2])
        return counters

    def metrics(self) -> dict[str, float]:
        text = self.call("GET", "/metrics")[2].decode()
        return {m[1]: float(m[2]) for m in re.finditer(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.M)}


@pytest.fixture
def start_standin(tmp_path: Path) -> Iterator[Callable[..., Standin]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> Standin:
        port = _free_port()
        log = tmp_path / f"standin-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, str(STANDIN)], env={"STANDIN_PORT": str(port), **env}, stdout=out, stderr=out)
        started.append(process)
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return Standin(port, log)
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def real_mode(sidecar: FakeSidecar, **env: str) -> dict[str, str]:
    return {"USE_REAL_MODEL": "true", "MODEL_BACKEND_URL": f"http://127.0.0.1:{sidecar.port}/infer", **env}


# ------------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("value", [None, "false", "True", "1", "yes"])
def test_anything_but_the_string_true_is_stub_mode_and_never_calls_the_sidecar(
    sidecar: FakeSidecar, start_standin: Callable[..., Standin], value: str | None
) -> None:
    env = real_mode(sidecar)
    del env["USE_REAL_MODEL"]
    standin = start_standin(**env, **({"USE_REAL_MODEL": value} if value is not None else {}))
    answers = [standin.analyze() for _ in range(3)]
    for answer in answers:
        assert (answer["real"], answer["reason"]) == (False, "stub_mode")
        assert len(answer["latent"]) == 64
        assert all(-1 <= v <= 1 for v in answer["latent"])
        assert len(answer["motif_scores"]) == 12
        assert all(0.1 <= v <= 0.95 for v in answer["motif_scores"])
    assert answers[0]["latent"] != answers[1]["latent"], "a random stub each time"
    assert sidecar.hits("POST", "/infer") == 0
    counters = standin.counters()
    assert counters["real"] == 0
    assert counters["stub"]["stub_mode"] == 3
    # EdgeInfer's /healthz checks the sidecar even in stub mode.
    status, _, data = standin.call("GET", "/healthz", headers={"Accept": "application/json"})
    assert status == 200
    assert json.loads(data)["checks"]["inference_capability"]["status"] == "stub"
    assert sidecar.hits("GET", "/healthz") == 1


def test_a_good_answer_is_real_and_the_call_is_edgeinfers(sidecar: FakeSidecar, start_standin: Callable[..., Standin]) -> None:
    standin = start_standin(**real_mode(sidecar))
    answer = standin.analyze()
    assert answer == {"real": True, "reason": None, "latent": GOOD["latent"], "motif_scores": GOOD["motif_scores"]}
    [(method, path, headers, body)] = sidecar.requests
    assert (method, path) == ("POST", "/infer")
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Host"] == f"127.0.0.1:{sidecar.port}"
    assert b" " not in body, "Vapor's JSONEncoder writes compact JSON"
    sent = json.loads(body)
    assert list(sent) == ["x"]
    assert [[_f32(v) for v in row] for row in sent["x"]] == [[_f32(v) for v in row] for row in WINDOW], "as Swift Floats"
    assert sent["x"] == WINDOW, "each Float in its fewest digits, which for these values are the sample's own"
    assert standin.counters()["real"] == 1


def test_the_url_is_used_as_given_and_the_health_url_is_cut_at_infer(sidecar: FakeSidecar, start_standin: Callable[..., Standin]) -> None:
    sidecar.infer_path = "/v2/infer?model=tcn"
    standin = start_standin(**real_mode(sidecar, MODEL_BACKEND_URL=f"http://127.0.0.1:{sidecar.port}/v2/infer?model=tcn"))
    assert standin.analyze()["real"] is True
    assert standin.call("GET", "/healthz")[2] == b"OK"
    assert [(m, p) for m, p, _, _ in sidecar.requests] == [("POST", "/v2/infer?model=tcn"), ("GET", "/v2/healthz")]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("503", "http_503"),
        ("malformed", "malformed_response"),
        ("not_json", "decode_error"),
        ("text", "decode_error"),  # Vapor's plaintext decoder cannot decode a struct: a DecodingError
        ("slow", "unknown_error"),  # the 45 ms read timeout is the client's own error, not EdgeInfer's timeout
        ("no_content_type", "unknown_error"),  # Abort(.unsupportedMediaType)
        ("empty", "unknown_error"),  # Abort(.lengthRequired)
    ],
)
def test_each_failure_is_a_stub_counted_under_edgeinfers_label(
    sidecar: FakeSidecar, start_standin: Callable[..., Standin], mode: str, reason: str
) -> None:
    sidecar.infer_mode = mode
    standin = start_standin(**real_mode(sidecar))
    for _ in range(3):
        answer, seconds = standin.timed_analyze()
        assert (answer["real"], answer["reason"]) == (False, reason)
        assert len(answer["latent"]) == 64
        assert len(answer["motif_scores"]) == 12
        assert seconds < 1.0, "no wait for BACKEND_TIMEOUT_MS"
    # The first failure clears the flag; the second call checks health (200 here) and calls again; the third
    # is within 30 s of that check and calls without one.
    assert (sidecar.hits("POST", "/infer"), sidecar.hits("GET", "/healthz")) == (3, 1)
    counters = standin.counters()
    assert counters["real"] == 0
    assert {r: n for r, n in counters["stub"].items() if n} == {reason: 3}
    assert [r for _, r in counters["stub_events"]] == [reason] * 3


def test_the_timeout_race_waits_for_the_call_it_lost_to(sidecar: FakeSidecar, start_standin: Callable[..., Standin]) -> None:
    sidecar.infer_mode = "trickle"  # about 150 ms in pieces, no gap of 45 ms
    whole = TRICKLE_PIECES * TRICKLE_GAP_S
    patient = start_standin(**real_mode(sidecar))
    answer, seconds = patient.timed_analyze()
    assert answer["real"] is True, "the read timeout is per read, not per answer"
    assert seconds >= whole
    hasty = start_standin(**real_mode(sidecar, BACKEND_TIMEOUT_MS="60"))
    answer, seconds = hasty.timed_analyze()
    assert (answer["real"], answer["reason"]) == (False, "timeout")
    assert seconds >= whole, "the client call ignores cancellation: the race ends when the call does"
    assert [cause for _, *cause in hasty.counters()["hidden_causes"]] == [["timeout", "answered 200"]]


def test_a_sidecar_that_is_not_there(start_standin: Callable[..., Standin]) -> None:
    url = f"http://127.0.0.1:{_free_port()}/infer"
    # AsyncHTTPClient retries the connection until its 2 s connect deadline, so BACKEND_TIMEOUT_MS (1500) wins.
    standin = start_standin(USE_REAL_MODEL="true", MODEL_BACKEND_URL=url)
    answer, seconds = standin.timed_analyze()
    assert (answer["reason"], 1.9 < seconds < 3.5) == ("timeout", True), seconds
    answer, seconds = standin.timed_analyze()  # the health check fails the same way: no call
    assert (answer["reason"], 1.9 < seconds < 3.5) == ("backend_unhealthy", True), seconds
    refused = r"connect to 127.0.0.1:\d+: \[Errno 111\] Connection refused"
    [(_, *call), (_, *check)] = standin.counters()["hidden_causes"]
    assert call[0] == "timeout"
    assert re.fullmatch(refused, call[1]), call
    assert check[0] == "backend_unhealthy"
    assert re.fullmatch(refused, check[1]), check
    # Above 2 s the connect failure itself comes back.
    standin = start_standin(USE_REAL_MODEL="true", MODEL_BACKEND_URL=url, BACKEND_TIMEOUT_MS="3000")
    answer, seconds = standin.timed_analyze()
    assert (answer["reason"], 1.9 < seconds < 2.9) == ("unknown_error", True), seconds
    [(_, reason, cause)] = standin.counters()["hidden_causes"]  # what the label hid: a sidecar not there
    assert reason == "unknown_error"
    assert re.fullmatch(refused, cause), cause
    status, content_type, body = standin.call("GET", "/healthz")
    assert (status, content_type, body) == (503, "text/plain; charset=utf-8", b"DEGRADED")


def test_a_call_that_waited_for_a_sidecar_to_come_up_says_so(start_standin: Callable[..., Standin]) -> None:
    port = _free_port()
    standin = start_standin(USE_REAL_MODEL="true", MODEL_BACKEND_URL=f"http://127.0.0.1:{port}/infer", BACKEND_TIMEOUT_MS="100")
    late: list[FakeSidecar] = []

    def come_up() -> None:
        time.sleep(0.5)
        late.append(FakeSidecar(port))
        late[0].serve_forever(poll_interval=0.05)

    threading.Thread(target=come_up, daemon=True).start()
    try:
        answer = standin.analyze()  # connects after a few refusals (AsyncHTTPClient's backoff), then answered
        assert answer["reason"] == "timeout"
        [(_, reason, cause)] = standin.counters()["hidden_causes"]
        assert reason == "timeout"
        assert re.fullmatch(r"answered 200 after \d+ failed connects \(\[Errno 111\] Connection refused\)", cause), cause
    finally:
        for server in late:
            server.shutdown()
            server.server_close()


def test_one_kept_alive_connection_serves_every_call_and_health_check(sidecar: FakeSidecar, start_standin: Callable[..., Standin]) -> None:
    standin = start_standin(**real_mode(sidecar))
    for i in range(20):
        assert standin.analyze()["real"] is True
        if i % 5 == 0:
            assert standin.call("GET", "/healthz")[2] == b"OK"
    assert (sidecar.hits("POST", "/infer"), sidecar.hits("GET", "/healthz")) == (20, 4)
    assert sidecar.connections == 1


@pytest.mark.parametrize("mode", ["close", "drop"])
def test_a_connection_the_sidecar_closed_is_not_used_again(sidecar: FakeSidecar, start_standin: Callable[..., Standin], mode: str) -> None:
    sidecar.infer_mode = mode
    standin = start_standin(**real_mode(sidecar))
    for _ in range(5):
        assert standin.analyze()["real"] is True
        time.sleep(0.05)  # "drop": the sidecar's FIN reaches the idle pooled connection
    assert sidecar.hits("POST", "/infer") == 5, "nothing re-sent"
    assert sidecar.connections == 5


def test_the_breaker_checks_health_once_per_interval(sidecar: FakeSidecar, start_standin: Callable[..., Standin]) -> None:
    interval = 0.8
    sidecar.infer_mode, sidecar.health_status = "503", 503
    standin = start_standin(**real_mode(sidecar, STANDIN_HEALTH_INTERVAL_S=str(interval)))

    def step(reason: str | None, calls: int, checks: int) -> None:
        answer = standin.analyze()
        assert answer["reason"] == reason
        assert answer["real"] is (reason is None)
        assert (sidecar.hits("POST", "/infer"), sidecar.hits("GET", "/healthz")) == (calls, checks)

    step("http_503", 1, 0)  # backendHealthy starts true: a call; it fails and clears the flag
    checked = time.monotonic()
    step("backend_unhealthy", 1, 1)  # flag clear, never checked: a health check (503), no call
    step("http_503", 2, 1)  # less than the interval since that check: EdgeInfer calls again
    step("http_503", 3, 1)
    assert time.monotonic() - checked < interval, "too slow to test the interval"
    assert standin.metrics()["edgeinfer_standin_backend_healthy"] == 0

    time.sleep(max(0.0, checked + interval + 0.1 - time.monotonic()))
    checked = time.monotonic()
    step("backend_unhealthy", 3, 2)  # the interval is over: a new check (503), no call
    sidecar.infer_mode, sidecar.health_status = "good", 200
    time.sleep(max(0.0, checked + interval + 0.1 - time.monotonic()))
    step(None, 4, 3)  # the next check says 200: the flag is set and the call goes through
    step(None, 5, 3)
    assert standin.metrics()["edgeinfer_standin_backend_healthy"] == 1
    counters = standin.counters()
    assert {r: n for r, n in counters["stub"].items() if n} == {"http_503": 3, "backend_unhealthy": 2}
    assert [cause for _, *cause in counters["hidden_causes"]] == [["backend_unhealthy", "http_503"]] * 2


def test_the_driver_keeps_its_rate_when_answers_are_slow(sidecar: FakeSidecar, start_standin: Callable[..., Standin]) -> None:
    hz = 20
    sidecar.infer_mode = "trickle"  # about 150 ms each: calling after each answer would manage under 7 a second
    standin = start_standin(**real_mode(sidecar, STANDIN_DRIVE_HZ=str(hz)))
    time.sleep(0.5)
    first, t1 = standin.counters()["real"], time.monotonic()
    time.sleep(2.0)
    last, t2 = standin.counters()["real"], time.monotonic()
    rate = (last - first) / (t2 - t1)
    assert 0.75 * hz <= rate <= 1.25 * hz, rate
    assert sum(standin.counters()["stub"].values()) == 0
    _, _, _, body = sidecar.requests[0]
    rows = json.loads(body)["x"]
    assert (len(rows), {len(r) for r in rows}) == (100, {9})
    means = [sum(r[c] for r in rows) / 100 for c in range(9)]
    assert abs(means[2] - 9.81) < 0.05, means
    assert all(abs(m) < 0.05 for m in means[:2] + means[3:6]), means
    assert len({tuple(r) for r in rows}) == 100, "noise on every row"


def test_the_driver_sends_the_window_it_is_given(sidecar: FakeSidecar, start_standin: Callable[..., Standin]) -> None:
    static = SAMPLES / "static_imu_sample.json"
    standin = start_standin(**real_mode(sidecar, STANDIN_DRIVE_HZ="10", STANDIN_DRIVE_WINDOW=str(static)))
    deadline = time.monotonic() + 5
    while sidecar.hits("POST", "/infer") < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    rows = json.loads(static.read_text())["x"]
    for _, _, _, body in sidecar.requests[:2]:
        assert [[_f32(v) for v in row] for row in json.loads(body)["x"]] == [[_f32(v) for v in row] for row in rows]
    assert standin.counters()["real"] >= 2


def test_metrics_and_counters_agree_and_reset(sidecar: FakeSidecar, start_standin: Callable[..., Standin]) -> None:
    standin = start_standin(**real_mode(sidecar))
    for mode in ["good", "good", "503", "malformed", "not_json", "503", "good", "slow"]:
        sidecar.infer_mode = mode
        standin.analyze()
    counters, metrics = standin.counters(), standin.metrics()
    assert counters["real"] == 3 == metrics['edgeinfer_standin_answers_total{kind="real"}']
    expected = {"http_503": 2, "malformed_response": 1, "decode_error": 1, "unknown_error": 1}
    assert {r: n for r, n in counters["stub"].items() if n} == expected
    for reason, count in counters["stub"].items():
        assert metrics[f'edgeinfer_standin_answers_total{{kind="stub",reason="{reason}"}}'] == count
    assert Counter(r for _, r in counters["stub_events"]) == Counter(expected)
    assert all(counters["started"] <= t <= time.time() for t, _ in counters["stub_events"])
    # EdgeInfer's own series, as its PrometheusMetrics names them.
    assert metrics['hailo_inference_requests_total{operation="tcn_vae_inference",status="success"}'] == 3
    assert metrics['hailo_inference_requests_total{operation="tcn_vae_inference",status="failure"}'] == 5
    assert metrics['hailo_inference_errors_total{error_type="http_503"}'] == 2

    before = counters["started"]
    status = standin.call("POST", "/counters/reset")[0]
    assert status == 200
    counters, metrics = standin.counters(), standin.metrics()
    assert (counters["real"], set(counters["stub"].values()), counters["stub_events"]) == (0, {0}, [])
    assert counters["started"] > before
    assert all(v == 0 for k, v in metrics.items() if k.startswith(("edgeinfer_standin_answers_total", "hailo_inference")))


def test_healthz_answers_as_edgeinfers(sidecar: FakeSidecar, start_standin: Callable[..., Standin]) -> None:
    standin = start_standin(**real_mode(sidecar))
    assert standin.call("GET", "/healthz") == (200, "text/plain; charset=utf-8", b"OK")
    assert standin.request("GET", "/healthz").getheader("Connection") == "close"
    assert standin.call("GET", "/healthz", headers={"Accept": "text/html"})[2] == b"OK"
    for accept in ["application/json", "*/*", "text/html, application/*;q=0.1"]:  # Vapor's == matches wildcards
        status, content_type, data = standin.call("GET", "/healthz", headers={"Accept": accept})
        health = json.loads(data)
        assert (status, content_type, health["status"], health["version"]) == (200, "application/json; charset=utf-8", "healthy", "1.0.0")
    assert set(health["checks"]) == {"service", "hailo_backend", "inference_capability", "system_resources"}
    assert health["checks"]["hailo_backend"]["status"] == "healthy"
    assert health["checks"]["inference_capability"]["status"] == "not_modelled"

    sidecar.health_status = 503  # any status but 200: degraded, still 200
    assert standin.call("GET", "/healthz") == (200, "text/plain; charset=utf-8", b"DEGRADED")
    health = json.loads(standin.call("GET", "/healthz", headers={"Accept": "application/json"})[2])
    assert (health["status"], health["checks"]["hailo_backend"]["status"]) == ("degraded", "degraded")
    assert standin.request("HEAD", "/healthz").status == 200
    status, _, data = standin.call("GET", "/health/detailed")
    assert (status, json.loads(data)["status"]) == (200, "degraded")


def test_the_inference_capability_check_posts_to_infer_infer(sidecar: FakeSidecar, start_standin: Callable[..., Standin]) -> None:
    standin = start_standin(**real_mode(sidecar, STANDIN_HEALTH_INFERENCE_CAPABILITY="true"))
    status, _, data = standin.call("GET", "/healthz", headers={"Accept": "application/json"})
    health = json.loads(data)
    assert (status, health["status"], health["checks"]["inference_capability"]["status"]) == (503, "unhealthy", "unhealthy")
    assert ("POST", "/infer/infer") in [(m, p) for m, p, _, _ in sidecar.requests]
    sidecar.infer_path = "/infer/infer"  # a sidecar that answered there would pass
    assert standin.call("GET", "/healthz") == (200, "text/plain; charset=utf-8", b"OK")


def test_a_bad_window_is_refused(sidecar: FakeSidecar, start_standin: Callable[..., Standin]) -> None:
    standin = start_standin(**real_mode(sidecar))
    for body in [b"not json", b'{"rows": []}', b'{"x": [[1, "a"]]}', b'{"x": [[1e39]]}']:
        assert standin.call("POST", "/analyze", body)[0] == 400
    assert sidecar.requests == []
    assert standin.counters()["real"] == 0
