"""The canary's live-window gate (issue #41): a release switched in with live_gate must reproduce the host's captured
windows against its FP32 ONNX, to the quantization gate; below it the switch is refused with the figures and nothing
moves; without captured windows the gate says it judged the golden ones only."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hailo_pipeline.bundle import fleet_windows
from tests.conftest import SAMPLES, ExampleBuilds
from tests.support.fleet_data import capture, physical
from tests.support.sidecar_server import RunningSidecar, post, running

BODY = (SAMPLES / "static_imu_sample.json").read_bytes()


@pytest.fixture(scope="module")
def compiled(example_builds: ExampleBuilds) -> tuple[Path, Path]:
    """Two releases of the example encoder with Hailo-8 HEFs (the DFC double): the one served, the one switched in."""
    return example_builds.tcn(compiled=True), example_builds.tcn("1.0.1", compiled=True)


def _captured(folder: Path, count: int) -> Path:
    """A capture folder holding `count` physics-shaped windows of the encoder, as a Pi's sidecar writes them."""
    folder.mkdir()
    fleet_windows.write(folder / "tcn-encoder.npz", capture(physical(count, 3), 0.0, "tcn-encoder-1.0.0-earlier"))
    return folder


def _switch(s: RunningSidecar, release: Path, live_gate: bool = True) -> httpx.Response:
    control = f"http://127.0.0.1:{s.control_port}/control/switch"
    return httpx.post(control, json={"release_dir": str(release), "live_gate": live_gate}, timeout=300)


def _serving(s: RunningSidecar) -> str:
    return str(httpx.get(f"http://127.0.0.1:{s.control_port}/control/state").json()["models"]["tcn-encoder"]["active"])


def test_a_release_that_reproduces_the_captured_windows_is_switched_in(
    hailort_double: object, compiled: tuple[Path, Path], device: Path, tmp_path: Path
) -> None:
    served, new = compiled
    folder = _captured(tmp_path / "capture", 64)
    with running(served, backend="hailo", device=device, capture_windows=100, capture_rate=1e-9, capture_dir=folder) as s:
        answer = _switch(s, new).json()
        assert (answer["switched"], answer["release"]) == (True, new.name)
        gate = answer["live_gate"]
        assert gate["windows"] == 64
        assert gate["threshold"] <= gate["cosine_min"] < 1  # an INT8 round trip, above the gate
        assert "on 64 captured windows" in gate["said"]
        assert _switch(s, served).json()["live_gate"]["said"] == "the release kept loaded beside: judged when it loaded"


def test_a_release_that_drifts_on_them_is_refused_and_nothing_moves(
    hailort_double: object, compiled: tuple[Path, Path], device: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, new = compiled
    folder = _captured(tmp_path / "capture", 300)
    monkeypatch.setenv("HAILORT_DOUBLE_DRIFT_AFTER", "200")  # past the new release's warm-up and golden check
    with running(served, backend="hailo", device=device, capture_windows=300, capture_rate=1e-9, capture_dir=folder) as s:
        refused = _switch(s, new)
        assert refused.status_code == 409
        assert "live-window gate on hailo: worst cosine" in refused.text
        assert "on 300 captured windows (needs >= 0.98): refusing to serve" in refused.text
        assert _serving(s) == served.name
        assert post(s.url, BODY).status_code == 200
        assert _switch(s, new, live_gate=False).json()["switched"] is True  # without the gate, the golden vectors pass


def test_without_captured_windows_the_gate_says_it_judged_the_golden_ones_only(example_builds: ExampleBuilds, tmp_path: Path) -> None:
    served, new = example_builds.tcn(), example_builds.tcn("1.0.1")
    (tmp_path / "empty").mkdir()
    with running(served, capture_windows=10, capture_dir=tmp_path / "empty") as s:
        gate = _switch(s, new).json()["live_gate"]
        assert gate == {"windows": 0, "passed": True, "said": "golden windows only: no captured windows of this model on the host"}
    with running(served) as s:
        gate = _switch(s, new).json()["live_gate"]
        assert gate["said"] == "golden windows only: the capture is off on this host (hailo_sidecar_capture_windows)"
