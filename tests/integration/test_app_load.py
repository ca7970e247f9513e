"""20 000 requests at EdgeInfer's shape against `hailo-pipeline serve` in its own process: zero errors,
nobody near EdgeInfer's 45 ms read timeout, and the server's memory does not grow."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from hailo_pipeline.clients.bench import bench
from tests.conftest import CLI, SAMPLES
from tests.support.sidecar_server import free_port

pytestmark = [pytest.mark.slow]


def _rss_mb(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.fixture(scope="module")
def served(bundle: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    env = {**os.environ, "HAILO_BACKEND": "onnxruntime", "LOG_LEVEL": "warning"}
    server = subprocess.Popen([CLI, "serve", str(bundle), "--host", "127.0.0.1", "--port", str(port)], env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert server.poll() is None, "serve exited"
        assert time.monotonic() < deadline, "serve did not become healthy"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/infer", server
    server.send_signal(signal.SIGTERM)
    # uvicorn drains, shuts down, then re-raises the signal: the exit status says "ended by SIGTERM".
    assert server.wait(timeout=30) in (0, -signal.SIGTERM)


def test_twenty_thousand_requests_without_an_error(served) -> None:  # type: ignore[no-untyped-def]
    url, server = served
    body = (SAMPLES / "realistic_imu_sample.json").read_bytes()
    warm = bench(url, body, 8, 2000)
    rss_before = _rss_mb(server.pid)
    result = bench(url, body, 8, 20_000)
    rss_after = _rss_mb(server.pid)
    print(f"\n{result.summary()}; RSS {rss_before:.0f} -> {rss_after:.0f} MB")
    assert warm.errors == {}
    assert result.errors == {}
    assert result.ok == result.requests == 20_000
    assert result.p99_ms < 45, "EdgeInfer's HTTP client gives up at 45 ms"
    assert rss_after < 300
    assert rss_after - rss_before < 10, "memory must not grow with traffic"
