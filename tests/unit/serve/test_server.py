"""The sidecar's HTTP server (serve.server). Its drain on SIGTERM: no new connections, every open one answered
once more with "Connection: close", then the server ends; a connection a client leaves idle is closed at the
keep-alive limit. One send per answer: a response's head waits for its body."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from hailo_pipeline.serve.server import _OneSendPerAnswer
from tests.conftest import SAMPLES
from tests.support.sidecar_server import RunningSidecar, running

BODY = (SAMPLES / "static_imu_sample.json").read_bytes()


def _address(s: RunningSidecar) -> tuple[str, int]:
    url = urlsplit(s.url)
    return str(url.hostname), int(url.port or 0)


def _head() -> bytes:
    fields = f"Host: hailo-inference\r\nContent-Type: application/json\r\nContent-Length: {len(BODY)}\r\n"
    return f"POST /infer HTTP/1.1\r\n{fields}\r\n".encode()


def _request(sock: socket.socket) -> None:
    sock.sendall(_head() + BODY)


def _response(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """Reads one response; returns its status and headers (lower-case names)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(status_line.split()[1]), headers


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(2)
    return sock.recv(1) == b""


def _refused(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def _wait(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_kept_alive_connection_is_answered_during_the_drain_and_closed_after(bundle: Path) -> None:
    with running(bundle) as s:
        address = _address(s)
        with socket.create_connection(address, timeout=5) as sock:
            _request(sock)
            status, headers = _response(sock)
            assert status == 200
            assert headers.get("connection") != "close"

            s.server.should_exit = True  # what SIGTERM does
            _wait(lambda: _refused(address), 5)
            started = time.monotonic()
            _request(sock)  # EdgeInfer's pool reuses the connection it holds
            status, headers = _response(sock)
            assert status == 200, "a request on an open connection during the drain must be answered"
            assert headers.get("connection") == "close"
            assert _closed_by_server(sock)
        s.thread.join(10)
        assert not s.thread.is_alive()
        assert time.monotonic() - started < s.server.config.timeout_keep_alive, "the drain ends once no connection is open"


def test_a_request_in_flight_when_the_drain_starts_is_answered_with_connection_close(bundle: Path) -> None:
    with running(bundle) as s, socket.create_connection(_address(s), timeout=5) as sock:
        sock.sendall(_head())  # the request has begun: its body is still on the way
        s.server.should_exit = True
        _wait(lambda: _refused(_address(s)), 5)
        sock.sendall(BODY)
        status, headers = _response(sock)
        assert status == 200
        assert headers.get("connection") == "close"
        assert _closed_by_server(sock)


def test_a_connection_left_idle_is_closed_at_the_keep_alive_limit(bundle: Path) -> None:
    keep_alive_s = 1
    with running(bundle) as s, socket.create_connection(_address(s), timeout=5) as sock:
        s.server.config.timeout_keep_alive = keep_alive_s
        _request(sock)
        assert _response(sock)[0] == 200
        s.server.should_exit = True
        started = time.monotonic()
        sock.settimeout(keep_alive_s + 5)
        assert sock.recv(1) == b"", "the drain closes an idle connection in the end"
        waited = time.monotonic() - started
        assert keep_alive_s - 0.2 < waited < keep_alive_s + 2, f"closed after {waited:.2f} s"


def test_the_device_process_holds_no_socket_but_its_channel(bundle: Path) -> None:
    """A fork copies the listeners: a copy left in the child would take connections nobody answers."""
    with running(bundle) as s:
        fds = Path(f"/proc/{s.sidecar.host._process.pid}/fd")
        sockets = [fd for fd in fds.iterdir() if os.readlink(fd).startswith("socket:")]
        assert len(sockets) == 1, [os.readlink(fd) for fd in fds.iterdir()]


class _Transport:
    def __init__(self) -> None:
        self.sends: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sends.append(data)

    def close(self) -> None:
        self.closed = True


class _Cycle:
    response_started = False


class _Protocol:
    cycle: _Cycle | None = None


def test_a_response_head_waits_for_its_body_and_goes_in_one_send() -> None:
    transport, protocol = _Transport(), _Protocol()
    one = _OneSendPerAnswer(transport, protocol)  # type: ignore[arg-type]
    protocol.cycle = _Cycle()
    one.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response starts: at once
    assert transport.sends == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    protocol.cycle.response_started = True
    one.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert len(transport.sends) == 1, "the head waits for the body"
    one.write(b"{}")
    assert transport.sends[1:] == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    one.write(b"more")  # a streamed body's next part: at once
    assert transport.sends[-1] == b"more"


def test_a_head_without_a_body_goes_when_the_response_completes_or_the_connection_closes() -> None:
    transport, protocol = _Transport(), _Protocol()
    one = _OneSendPerAnswer(transport, protocol)  # type: ignore[arg-type]
    protocol.cycle = _Cycle()
    protocol.cycle.response_started = True
    one.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    one.flush()  # what SidecarProtocol.on_response_complete does
    assert transport.sends == [b"HTTP/1.1 204 No Content\r\n\r\n"]
    protocol.cycle = _Cycle()  # the next request on the connection
    protocol.cycle.response_started = True
    one.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    one.close()
    assert transport.sends[-1] == b"HTTP/1.1 500 Internal Server Error\r\n\r\n"
    assert transport.closed
