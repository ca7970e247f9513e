"""The sidecar over real HTTP on loopback, as EdgeInfer meets it."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve.device.engine import load_engine
from hailo_pipeline.serve.messages import DeviceAccess
from hailo_pipeline.serve.settings import from_env
from tests.conftest import SAMPLES
from tests.support.faults import Faults
from tests.support.sidecar_server import post, running
from tests.support.tamper import break_goldens

MODEL_BACKEND_URL_PATH = "/infer"  # EdgeInfer's compose value is http://hailo-inference:9000/infer


def _edgeinfer_call(model_backend_url: str, body: bytes) -> tuple[list[float], list[float]] | None:
    """EdgeInfer's own acceptance rule: POST the URL as given, 1500 ms, 200 with exactly 64 + 12 floats."""
    try:
        response = httpx.post(model_backend_url, content=body, headers={"Content-Type": "application/json"}, timeout=1.5)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    doc = response.json()
    latent, scores = doc.get("latent"), doc.get("motif_scores")
    if not (isinstance(latent, list) and len(latent) == 64 and isinstance(scores, list) and len(scores) == 12):
        return None
    return latent, scores


def test_edgeinfer_contract_on_the_real_samples(server: str) -> None:
    model_backend_url = server + MODEL_BACKEND_URL_PATH
    health_url = model_backend_url.split("/infer", 1)[0] + "/healthz"  # how EdgeInfer derives it
    assert httpx.get(health_url).status_code == 200
    for sample in ("realistic_imu_sample", "static_imu_sample", "random_imu_sample", "static_imu_sample_105rows"):
        answer = _edgeinfer_call(model_backend_url, (SAMPLES / f"{sample}.json").read_bytes())
        assert answer is not None, sample
        latent, scores = answer
        assert all(np.isfinite(latent))
        assert all(0.0 <= s <= 1.0 for s in scores)


def test_edgeinfer_health_checks_path_answers_as_infer(server: str) -> None:
    """EdgeInfer's inference_capability check POSTs to MODEL_BACKEND_URL + "/infer"."""
    body = (SAMPLES / "static_imu_sample.json").read_bytes()
    doubled = httpx.post(f"{server}/infer/infer", content=body, headers={"Content-Type": "application/json"})
    assert doubled.status_code == 200
    assert doubled.json()["latent"] == post(server, body).json()["latent"]


def test_answers_match_the_bundle_model_exactly(server: str, bundle: Path) -> None:
    body = (SAMPLES / "realistic_imu_sample.json").read_bytes()
    doc = post(server, body).json()
    assert doc["release"] == bundle.name
    assert doc["backend"] == "onnxruntime"
    assert doc["padded"] == 0
    engine = load_engine(bundle, "onnxruntime", DeviceAccess(Path("/nonexistent")), 1, 1000)
    answers = engine.head.outputs(engine.device_output(np.asarray(json.loads(body)["x"], np.float32)[None])[None])
    latent, scores = answers["latent"][0], answers["motif_scores"][0]
    np.testing.assert_allclose(doc["latent"], latent, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(doc["motif_scores"], scores, rtol=1e-6, atol=1e-7)


def test_short_windows_are_padded_with_the_oldest_sample(server: str) -> None:
    rows = json.loads((SAMPLES / "realistic_imu_sample.json").read_text())["x"]
    short = post(server, orjson.dumps({"x": rows[-30:]})).json()
    explicit = post(server, orjson.dumps({"x": [rows[-30]] * 70 + rows[-30:]})).json()
    assert short["padded"] == 70
    assert short["latent"] == explicit["latent"]
    one = post(server, orjson.dumps({"x": rows[:1]})).json()
    assert one["padded"] == 99


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b'{"x": [[1,2,3]]}', "application/json", 422, "bad_width"),
        (b"", "application/json", 400, "empty_body"),
        (b"x=1", "application/x-www-form-urlencoded", 415, "content_type"),
        (b'{"x": [[1,2,3,4,5,6,7,8,"a"]]}', "application/json", 422, "not_a_number"),
        (b'{"x": [[1,2,3,4,5,6,7,8,Infinity]]}', "application/json", 400, "bad_json"),
        (b"[" * 300_000, "application/json", 413, "body_too_large"),
    ],
)
def test_bad_input_is_4xx_with_a_reason(server: str, body: bytes, content_type: str, status: int, error: str) -> None:
    response = post(server, body, content_type)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["detail"]


def test_reject_policy_refuses_short_windows(bundle: Path) -> None:
    with running(bundle, short_window_policy="reject") as s:
        response = post(s.url, orjson.dumps({"x": [[0.0] * 9] * 99}))
    assert response.status_code == 422
    assert "needs 100" in response.json()["detail"]


def test_metrics_count_requests_rejects_and_padding(bundle: Path) -> None:
    with running(bundle) as s:
        post(s.url, (SAMPLES / "static_imu_sample.json").read_bytes())
        post(s.url, orjson.dumps({"x": [[0.0] * 9] * 10}))
        post(s.url, b'{"x": []}')
        text = httpx.get(f"{s.url}/metrics").text
    labels = 'model="tcn-encoder",route="edgeinfer"'
    assert f'hailo_sidecar_requests_total{{{labels},status="200"}} 2.0' in text
    assert f'hailo_sidecar_requests_total{{{labels},status="422"}} 1.0' in text
    assert 'hailo_sidecar_rejects_total{model="tcn-encoder",reason="empty_x"} 1.0' in text
    assert 'hailo_sidecar_padded_windows_total{model="tcn-encoder"} 1.0' in text
    assert f'hailo_sidecar_request_duration_seconds_bucket{{le="0.0005",{labels}}}' in text
    assert 'hailo_sidecar_inference_duration_seconds_count{model="tcn-encoder"} ' in text
    assert "hailo_sidecar_queue_depth 0.0" in text
    assert f'release="{bundle.name}"' in text


def _tampered_goldens(bundle: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / bundle.name
    shutil.copytree(bundle, copy)
    break_goldens(copy)
    return copy


def test_goldens_that_fail_keep_healthz_503_with_the_reason(bundle: Path, tmp_path: Path) -> None:
    with running(_tampered_goldens(bundle, tmp_path)) as s:
        health = httpx.get(f"{s.url}/healthz")
        assert health.status_code == 503
        assert "golden vectors on onnxruntime: worst latent cosine -1" in health.json()["reason"]
        refused = post(s.url, (SAMPLES / "static_imu_sample.json").read_bytes())
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"


def test_corrupted_bundle_is_never_served(bundle: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / bundle.name
    shutil.copytree(bundle, copy)
    (copy / "model.onnx").write_bytes(b"\x00" + (copy / "model.onnx").read_bytes()[1:])
    with running(copy) as s:
        health = httpx.get(f"{s.url}/healthz").json()
    assert "model.onnx does not match its sha256" in health["reason"]


def _wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_allowed_signers_that_is_not_a_file_stops_the_sidecar_at_start(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=f"ALLOWED_SIGNERS={tmp_path}/absent is not a file: mount the allowed-signers file there"):
        from_env({"ALLOWED_SIGNERS": str(tmp_path / "absent")})
    assert from_env({}).allowed_signers == ""


@pytest.mark.parametrize(
    ("fault", "detail", "health"),
    [
        ("raise", "HAILO_DRIVER_FAIL(36)", "backend failing"),  # the device process's idle probe notices recovery
        ("exit", "the device process ended (exit code 3)", None),  # forked again with the release it held
    ],
)
def test_a_failing_backend_gives_a_quick_503_then_recovers(
    bundle: Path, tmp_path: Path, fault: str, detail: str, health: str | None
) -> None:
    body = (SAMPLES / "static_imu_sample.json").read_bytes()
    faults = Faults(tmp_path)
    with running(bundle, faults.opener()) as s:
        faults.set(fault)
        started = time.perf_counter()
        response = post(s.url, body)
        assert response.status_code == 503
        assert time.perf_counter() - started < 0.5
        assert detail in response.json()["detail"]
        if health is not None:
            refused = httpx.get(f"{s.url}/healthz")
            assert refused.status_code == 503
            assert refused.json()["reason"].startswith(f"tcn-encoder: {health}")
        faults.set("ok")  # no traffic needed to recover
        _wait_for(lambda: httpx.get(f"{s.url}/healthz").status_code == 200, 30)
        answer = post(s.url, body)
        assert answer.status_code == 200
        assert answer.json()["release"] == bundle.name


def test_backend_that_hangs_gives_quick_503_and_overload_is_refused(bundle: Path, tmp_path: Path) -> None:
    body = (SAMPLES / "static_imu_sample.json").read_bytes()
    faults = Faults(tmp_path)
    with running(bundle, faults.opener(), infer_timeout_ms=200, queue_limit=2) as s:
        faults.set("hang")
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            started = time.perf_counter()
            responses = list(pool.map(lambda _: post(s.url, body), range(6)))
            elapsed = time.perf_counter() - started
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [503] * 6
        assert elapsed < 1.0, "nobody waits longer than the timeout"
        kinds = {r.json()["error"] for r in responses}
        assert kinds <= {"timeout", "overloaded"}
        assert "overloaded" in kinds
        assert all(r.headers["Retry-After"] == "1" for r in responses if r.json()["error"] == "overloaded")
        health = httpx.get(f"{s.url}/healthz")
        assert health.status_code == 503
        assert health.json()["reason"].startswith("tcn-encoder: backend hung")
        faults.set("ok")
        _wait_for(lambda: httpx.get(f"{s.url}/healthz").status_code == 200)
        assert post(s.url, body).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        "",  # tritonclient's JSON: no Content-Type
        "Content-Type: application/octet-stream\r\nInference-Header-Content-Length: 40\r\n",  # its binary tensors
        "Content-Type: application/json\r\n",
    ],
)
def test_an_oip_request_the_device_cannot_take_is_refused_before_its_body(bundle: Path, tmp_path: Path, headers: str) -> None:
    faults = Faults(tmp_path)
    with running(bundle, faults.opener(), infer_timeout_ms=3000, queue_limit=1) as s:
        faults.set("hang")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(post, s.url, (SAMPLES / "static_imu_sample.json").read_bytes())
            _wait_for(lambda: "hailo_sidecar_queue_depth 1.0" in httpx.get(f"{s.url}/metrics").text)
            host, port = s.url.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=2) as sock:
                # the head alone: a route would wait for the 4 000 bytes it announces, the gate answers at once
                sock.sendall(f"POST /v2/models/tcn-encoder/infer HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: 4000\r\n\r\n".encode())
                head = sock.recv(65536).decode("latin-1")
            faults.set("ok")
            waiting.result()
    assert head.startswith("HTTP/1.1 503"), head
    assert "already wait for the device (QUEUE_LIMIT=1)" in head


def test_graceful_shutdown_finishes_requests_in_flight(bundle: Path, tmp_path: Path) -> None:
    body = (SAMPLES / "static_imu_sample.json").read_bytes()
    faults = Faults(tmp_path)
    with running(bundle, faults.opener()) as s:
        faults.set("sleep:0.4")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(post, s.url, body)
            time.sleep(0.1)
            s.server.should_exit = True  # what SIGTERM does
            assert pending.result().status_code == 200


def test_openapi_documents_the_contract(server: str) -> None:
    spec = httpx.get(f"{server}/openapi.json").json()
    body = spec["paths"]["/infer"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["x"]["items"]["minItems"] == 9
    assert {"200", "422", "503"} <= set(spec["paths"]["/infer"]["post"]["responses"])
    assert httpx.get(f"{server}/docs").status_code == 200
