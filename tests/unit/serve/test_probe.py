"""`hailo-pipeline probe`: the deploy's post-start check, against a real sidecar on loopback."""

import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hailo_pipeline.clients.probe import health_url, probe
from hailo_pipeline.errors import PipelineError
from tests.conftest import SMALL_CALIBRATION, build_example
from tests.support.sidecar_server import running
from tests.unit.serve.test_app import _tampered_goldens


@pytest.fixture(scope="module")
def url(server: str) -> str:
    return server + "/infer"


def test_health_url_is_derived_as_edgeinfer_does() -> None:
    assert health_url("http://hailo-inference:9000/infer") == "http://hailo-inference:9000/healthz"
    with pytest.raises(PipelineError, match="must end in /infer"):
        health_url("http://hailo-inference:9000/")


def test_live_release_reproduces_its_goldens_through_http(url: str, bundle: Path) -> None:
    result = probe(url, bundle)
    assert result["release"] == bundle.name
    assert result["backend"] == "onnxruntime"
    assert result["windows"] == 16
    assert result["latent"]["cosine_min"] > 0.9999
    assert (result["model"], result["route"]) == ("tcn-encoder", "edgeinfer")


def test_another_release_than_the_live_one_is_refused(url: str, bundle: Path, tmp_path: Path, sources: dict[str, Path]) -> None:
    other = build_example(tmp_path, sources["tcn_encoder"], calibration=SMALL_CALIBRATION | {"seed": 7})
    with pytest.raises(PipelineError, match=f"serves '{bundle.name}', expected '{other.name}'"):
        probe(url, other)


def test_answers_that_differ_from_the_goldens_fail(url: str, bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"golden latent of tcn-encoder through edgeinfer: worst cosine -"):
        probe(url, _tampered_goldens(bundle, tmp_path))


def test_a_sidecar_that_is_down_is_named(bundle: Path) -> None:
    with pytest.raises(PipelineError, match="no answer"):
        probe("http://127.0.0.1:9/infer", bundle, timeout=1)


def test_a_model_beside_edgeinfers_is_probed_over_the_protocol(bundle: Path, fsq_bundle: Path) -> None:
    with running((bundle, fsq_bundle)) as s:
        result = probe(f"{s.url}/infer", fsq_bundle)
        assert (result["model"], result["route"], result["windows"]) == ("conv2d-fsq", "oip", 16)
        assert result["probabilities"]["max_abs"] < 1e-5
        assert probe(f"{s.url}/infer", bundle)["route"] == "edgeinfer"


def test_a_model_the_sidecar_does_not_serve_is_named(url: str, fsq_bundle: Path) -> None:
    with pytest.raises(PipelineError, match="the sidecar serves no model 'conv2d-fsq' \\(it serves tcn-encoder\\)"):
        probe(url, fsq_bundle)


@contextmanager
def _refusing(upstream: str, refusals: int, retry_after: str) -> Iterator[tuple[str, list[int]]]:
    """A proxy to the sidecar at upstream that answers its first `refusals` POSTs as an overloaded sidecar does
    (503, Retry-After) and passes everything else through; yields its URL and the statuses of the POSTs."""
    statuses: list[int] = []

    class Proxy(BaseHTTPRequestHandler):
        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self, body: bytes | None) -> None:
            request = urllib.request.Request(upstream + self.path, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as answer:
                self._reply(answer.status, {"Content-Type": "application/json"}, answer.read())

        def do_GET(self) -> None:
            self._forward(None)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if len(statuses) < refusals:
                statuses.append(503)
                self._reply(503, {"Retry-After": retry_after}, b'{"error": "overloaded", "detail": "queue full"}')
                return
            statuses.append(200)
            self._forward(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", statuses
    finally:
        server.shutdown()


def test_an_overload_refusal_is_retried_after_its_retry_after(server: str, bundle: Path) -> None:
    with _refusing(server, refusals=2, retry_after="1") as (proxy, statuses):
        result = probe(f"{proxy}/infer", bundle)
    assert result["windows"] == 16
    assert result["latent"]["cosine_min"] > 0.9999
    assert statuses == [503, 503] + [200] * 16


def test_a_refusal_whose_retry_after_does_not_fit_the_timeout_fails(server: str, bundle: Path) -> None:
    refused = pytest.raises(PipelineError, match="answered 503 to a golden window")
    with _refusing(server, refusals=1, retry_after="5") as (proxy, statuses), refused:
        probe(f"{proxy}/infer", bundle, timeout=2)
    assert statuses == [503]
