"""Live parity on the accelerator (HailoRT double): one window in PARITY_SAMPLE_EVERY is run again on the bundle's
ONNX on the CPU and its cosine exported, and windows below the quantization gate are counted; a drifting device
shows up there while the answers go on. On ONNX Runtime there is nothing to compare."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLES, ExampleBuilds
from tests.support.sidecar_server import RunningSidecar, post, running

# Inside the example model's calibration range (the realistic sample is not: its parity is 0.978, below the gate)
BODY = (SAMPLES / "static_imu_sample.json").read_bytes()


@pytest.fixture(scope="module")
def compiled(example_builds: ExampleBuilds) -> Path:
    return example_builds.tcn(compiled=True)


def series(s: RunningSidecar, name: str) -> float:
    found = re.search(
        rf'^{re.escape(name)}\{{model="tcn-encoder"(?:,le="[^"]*")?\}} (\S+)$', httpx.get(f"{s.url}/metrics").text, re.MULTILINE
    )
    return float(found.group(1)) if found else 0.0


def sampled(s: RunningSidecar, count: int) -> None:
    deadline = time.monotonic() + 30
    while series(s, "hailo_sidecar_parity_cosine_count") < count:
        assert time.monotonic() < deadline, "the samples did not come"
        time.sleep(0.05)


def call(s: RunningSidecar, times: int) -> None:
    for _ in range(times):
        assert post(s.url, BODY).status_code == 200


def test_on_the_accelerator_one_window_in_n_is_compared_with_the_cpu_and_passes_the_gate(
    hailort_double: object, compiled: Path, device: Path
) -> None:
    with running(compiled, backend="hailo", device=device, parity_sample_every=5) as s:
        call(s, 40)
        sampled(s, 8)
        metrics = httpx.get(f"{s.url}/metrics").text
        assert series(s, "hailo_sidecar_parity_cosine_count") == 8  # windows 5, 10, ... 40
        assert 'hailo_sidecar_parity_cosine_bucket{le="0.98",model="tcn-encoder"} 0.0' in metrics  # an INT8 round trip
        assert 'hailo_sidecar_parity_cosine_bucket{le="1.0",model="tcn-encoder"} 8.0' in metrics
        assert series(s, "hailo_sidecar_parity_below_gate_total") == 0


def test_a_drifting_device_is_counted_below_the_gate_while_the_answers_go_on(
    hailort_double: object, compiled: Path, device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running(compiled, backend="hailo", device=device, parity_sample_every=4) as s:
        call(s, 8)
        sampled(s, 2)
        assert series(s, "hailo_sidecar_parity_below_gate_total") == 0
    monkeypatch.setenv("HAILORT_DOUBLE_DRIFT_AFTER", "200")  # past the warm-up and the golden check at load
    with running(compiled, backend="hailo", device=device, parity_sample_every=4) as s:
        call(s, 200)
        sampled(s, 50)
        below = series(s, "hailo_sidecar_parity_below_gate_total")
        assert 0 < below < 50, "the windows before the drift passed, those after it did not"
        call(s, 40)
        sampled(s, 60)
        assert series(s, "hailo_sidecar_parity_below_gate_total") == below + 10, "every sample since the drift is below"
        assert httpx.get(f"{s.url}/healthz").status_code == 200  # parity reports; the golden gate decides serving


@pytest.mark.parametrize("settings", [{"backend": "onnxruntime"}, {"parity_sample_every": 0}])
def test_nothing_is_sampled_on_the_cpu_or_when_off(
    hailort_double: object, compiled: Path, device: Path, settings: dict[str, object]
) -> None:
    with running(compiled, **{"backend": "hailo", "device": device, "parity_sample_every": 2, **settings}) as s:
        call(s, 20)
        time.sleep(0.5)
        assert series(s, "hailo_sidecar_parity_cosine_count") == 0
