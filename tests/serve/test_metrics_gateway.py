"""The metrics gateway: the sidecar's /metrics and /healthz for the fleet's Prometheus, nothing else, and 503 with
the reason while the sidecar does not answer (so the fleet's up{job="hailo-sidecar"} is 0)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from hailo_pipeline.serve.metrics_gateway import gateway
from tests.conftest import SAMPLES
from tests.sidecar_server import free_port, post, running


@contextmanager
def gateway_to(upstream: str) -> Iterator[str]:
    server = gateway(upstream, "127.0.0.1", free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_gateway_answers_the_sidecars_metrics_and_health_and_nothing_else(bundle: Path) -> None:
    with running(bundle) as sidecar, gateway_to(sidecar.url) as url:
        assert post(sidecar.url, (SAMPLES / "static_imu_sample.json").read_bytes()).status_code == 200
        metrics = httpx.get(f"{url}/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "hailo_sidecar_ready 1.0" in metrics.text  # set by the scrape itself, not only by a /healthz call
        assert 'hailo_sidecar_requests_total{model="tcn-encoder",route="edgeinfer",status="200"} 1.0' in metrics.text
        assert httpx.get(f"{url}/healthz").json()["release"] == bundle.name
        assert httpx.get(f"{url}/infer").status_code == 404
        assert httpx.post(f"{url}/infer", json={"x": []}).status_code == 501  # no inference through it
        assert httpx.get(f"{url}/docs").status_code == 404


def test_the_gateway_says_503_and_why_while_the_sidecar_does_not_answer() -> None:
    upstream = f"http://127.0.0.1:{free_port()}"
    with gateway_to(upstream) as url:
        answer = httpx.get(f"{url}/metrics")
        assert answer.status_code == 503
        assert answer.text.startswith(f"the sidecar at {upstream}/metrics does not answer: ")
