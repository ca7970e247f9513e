"""The sidecar's live input guard (issue #40): what clients send, per model and channel, against the calibration
envelope, in /metrics and as /healthz warnings that leave readiness alone; answers never change, and a failing
guard is counted, not felt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.bundle.input_guard import BATCH, InputGuard
from hailo_pipeline.serve.host.input_watch import InputWatch
from tests.conftest import SAMPLES
from tests.support.sidecar_server import RunningSidecar, post, running

MODEL = "tcn-encoder"
GYRO = ("gx", "gy", "gz")
DEG = dict.fromkeys(GYRO, "deg/s")


def _body(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


REALISTIC, STATIC = _body("realistic_imu_sample.json"), _body("static_imu_sample.json")


def _answers(s: RunningSidecar, bodies: list[bytes]) -> list[bytes]:
    answers = [post(s.url, body) for body in bodies]
    assert {a.status_code for a in answers} == {200}
    return [a.content for a in answers]


def _series(s: RunningSidecar, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """One family's samples of the sidecar's /metrics, by their labels."""
    text = httpx.get(f"{s.url}/metrics").text
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def _mismatched(s: RunningSidecar) -> dict[str, str]:
    """{channel: suggested unit} of the channels hailo_sidecar_input_unit_mismatch flags."""
    found = _series(s, "hailo_sidecar_input_unit_mismatch")
    return {dict(labels)["channel"]: dict(labels)["suggested"] for labels, value in found.items() if value == 1}


def _healthz(s: RunningSidecar) -> httpx.Response:
    return httpx.get(f"{s.url}/healthz")


def test_deg_s_traffic_shows_the_units_mismatch_and_declaring_it_clears_it(bundle: Path, tmp_path: Path) -> None:
    units_file = tmp_path / "client_units.json"
    with running(bundle, client_units_file=units_file) as s:
        _answers(s, [STATIC] * 20)
        assert _mismatched(s) == {}
        verdicts = _series(s, "hailo_sidecar_input_verdict")
        assert {dict(labels)["verdict"] for labels, value in verdicts.items() if value == 1} == {"ok"}
        assert _series(s, "hailo_sidecar_input_windows") == {(("model", MODEL),): 20.0}
        assert _healthz(s).json()["input"] == []
        # EdgeInfer's health check sends uniform noise to /infer/infer: answered, not counted
        noise = json.dumps({"x": np.random.default_rng(0).uniform(-1, 1, (100, 9)).tolist()})
        assert httpx.post(f"{s.url}/infer/infer", content=noise, headers={"Content-Type": "application/json"}).status_code == 200
        assert _series(s, "hailo_sidecar_input_windows") == {(("model", MODEL),): 20.0}

        _answers(s, [REALISTIC] * 20)
        assert _mismatched(s) == DEG
        verdicts = _series(s, "hailo_sidecar_input_verdict")
        assert verdicts[(("channel", "gx"), ("model", MODEL), ("verdict", "unit_mismatch"))] == 1
        assert verdicts[(("channel", "gx"), ("model", MODEL), ("verdict", "ok"))] == 0
        assert _series(s, "hailo_sidecar_input_scale")[(("channel", "gx"), ("model", MODEL))] > 5  # over still and moving windows
        health = _healthz(s)
        assert health.status_code == 200  # warnings, not unreadiness
        assert health.json()["status"] == "ok"
        warnings = health.json()["input"]
        assert health.json()["models"][MODEL]["input"] == warnings
        assert [w.split()[0] for w in warnings] == list(GYRO)
        assert all(f"set client_units {c}: deg/s (40 windows)" in w for c, w in zip(GYRO, warnings, strict=True))

        # the host declares the gyroscope's units: a switch to the serving release starts a fresh guard on them
        units_file.write_text(json.dumps({MODEL: DEG}))
        control = f"http://127.0.0.1:{s.control_port}/control"
        assert httpx.post(f"{control}/switch", json={"release_dir": str(bundle)}, timeout=120).json()["switched"] is True
        _answers(s, [REALISTIC] * 20)
        assert _mismatched(s) == {}
        assert _healthz(s).json()["input"] == []
        assert _series(s, "hailo_sidecar_input_windows") == {(("model", MODEL),): 20.0}

        # one window no IMU produces is enough to say so, and it is still answered
        assert post(s.url, json.dumps({"x": [[1e30] * 9] * 100}).encode()).status_code == 200
        verdicts = _series(s, "hailo_sidecar_input_verdict")
        assert {dict(labels)["channel"] for labels, value in verdicts.items() if value == 1 and ("verdict", "impossible") in labels} == set(
            manifest_io.read(bundle)["input"]["channels"]
        )
        health = _healthz(s)
        assert health.status_code == 200
        assert all("in 1 of 21 windows: no IMU produces more than" in w for w in health.json()["input"])


def test_the_protocols_route_is_watched_too(bundle: Path) -> None:
    window = np.asarray(json.loads(REALISTIC)["x"], np.float32)
    body = {"inputs": [{"name": "imu_window", "shape": [1, 1, *window.shape], "datatype": "FP32", "data": window.ravel().tolist()}]}
    with running(bundle) as s:
        for _ in range(10):
            assert httpx.post(f"{s.url}/v2/models/{MODEL}/infer", json=body, timeout=10).status_code == 200
        assert _mismatched(s) == DEG


def test_answers_are_the_same_bits_with_the_guard_on_off_or_failing(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = [REALISTIC, STATIC, _body("static_imu_sample_105rows.json")] * (BATCH // 3 + 1)  # a batch counted, too
    with running(bundle, input_guard=False) as s:
        off = _answers(s, bodies)
        assert _series(s, "hailo_sidecar_input_windows") == {}
        assert "input" not in _healthz(s).json()
    with running(bundle) as s:
        assert _answers(s, bodies) == off
        assert _series(s, "hailo_sidecar_input_windows") == {(("model", MODEL),): len(bodies)}

    def broken(*_: Any) -> None:
        raise RuntimeError("a broken guard")

    monkeypatch.setattr(InputGuard, "observe", broken)
    monkeypatch.setattr(InputGuard, "verdict", broken)
    with running(bundle) as s:
        assert _answers(s, bodies) == off
        health = _healthz(s)
        assert health.status_code == 200
        assert "the input guard failed" in health.json()["input"][0]
        errors = _series(s, "hailo_sidecar_input_guard_errors_total")[(("model", MODEL),)]
        assert errors >= len(bodies)  # every window, and each verdict asked


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bundle_without_an_envelope_or_with_a_malformed_one_is_served_unjudged_and_says_so(bundle: Path) -> None:
    manifest = manifest_io.read(bundle)
    in_force = dict(zip(manifest["input"]["channels"], manifest_io.input_units(manifest)[1], strict=True))
    older = {**manifest, "calibration": {k: v for k, v in manifest["calibration"].items() if k != "envelope"}}
    malformed = {**manifest, "calibration": {**manifest["calibration"], "envelope": {"quantiles": [50.0]}}}
    for changed, warning in [(older, "its bundle has no calibration envelope"), (malformed, "calibration.envelope is malformed")]:
        watch = InputWatch(MODEL, changed, in_force, 900, lambda: None)
        watch.observe(np.full((100, 9), 1e30, np.float32))
        assert _judged(watch) == (1, [])
        assert len(watch.warnings()) == 1
        assert warning in watch.warnings()[0]
        assert "rebuild" in watch.warnings()[0]


def _judged(watch: InputWatch) -> tuple[int, list[str]]:
    verdict = watch.verdict()
    assert verdict is not None
    return verdict.windows, [c.channel for c in verdict.flagged]


def test_counts_rotate_out_two_periods_after_the_client_is_fixed(bundle: Path) -> None:
    clock, failures = Clock(), []
    manifest = manifest_io.read(bundle)
    in_force = dict(zip(manifest["input"]["channels"], manifest_io.input_units(manifest)[1], strict=True))
    watch = InputWatch(MODEL, manifest, in_force, 900, lambda: failures.append(1), clock)
    raw = np.asarray(json.loads(REALISTIC)["x"], np.float32)
    fixed = raw.copy()
    fixed[:, 3:6] *= np.pi / 180  # the client now sends rad/s
    for _ in range(20):
        watch.observe(raw)
    clock.now = 899.0
    assert len(watch.warnings()) == 3
    clock.now = 900.0  # a new generation: the one before still counts
    for _ in range(20):
        watch.observe(fixed)
    assert _judged(watch) == (40, list(GYRO))
    clock.now = 1800.0  # the deg/s windows' generation is dropped
    assert _judged(watch) == (20, [])
    assert watch.warnings() == []
    clock.now = 1800.0 + 2 * 900  # two periods without a window: nothing stays
    assert _judged(watch) == (0, [])
    assert failures == []
