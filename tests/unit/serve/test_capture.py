"""The capture of client windows (issue #41): a bounded sample per model in the model's units, written atomically,
read back after a restart, stopped (and counted) by a full disk, never felt by an answer."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
import numpy as np

from hailo_pipeline.serve.host.capture import SET_ASIDE, Captures, Layout
from tests.conftest import SAMPLES
from tests.support.sidecar_server import post, running

CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz", "mx", "my", "mz")
MODEL_UNITS = ("m/s^2",) * 3 + ("rad/s",) * 3 + ("uT",) * 3
LAYOUT = Layout((100, 9), CHANNELS, MODEL_UNITS)
DEG = {"gx": "deg/s", "gy": "deg/s", "gz": "deg/s"}


def _realistic() -> np.ndarray:
    """EdgeInfer's realistic sample as it sends it: the gyroscope in deg/s."""
    return np.asarray(json.loads((SAMPLES / "realistic_imu_sample.json").read_text())["x"], np.float32)


def _captures(folder: Path, capacity: int = 4, failures: list[str] | None = None) -> Captures:
    """Captures taking every window (rate 1, chance fixed) into `folder`; failures collect the failing models."""
    draws = iter(np.random.default_rng(0).random(10_000))
    return Captures(folder, capacity, 1.0, 60, (failures if failures is not None else []).append, lambda: float(next(draws)))


def _stored(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def test_windows_are_kept_in_the_models_units_up_to_the_capacity_the_newest_replacing_at_random(tmp_path: Path) -> None:
    captures = _captures(tmp_path, capacity=4)
    captures.serve(
        "tcn-encoder", 7, "tcn-encoder-1.0.0-a", LAYOUT, tuple(DEG.get(c, u) for c, u in zip(CHANNELS, MODEL_UNITS, strict=True))
    )
    raw = _realistic()
    for i in range(10):
        captures.offer(7, (raw + i)[None])  # as the route hands it on: (1, T, C)
    captures.offer(99, raw[None])  # an engine that serves no model here: not taken
    sample = captures.samples["tcn-encoder"]
    assert (sample.kept, sample.taken) == (4, 10)
    offsets = [round(float(w[0, 0] - raw[0, 0])) for w in sample.windows]
    assert 9 in offsets
    assert len(set(offsets)) == 4
    expected = (raw + 9).astype(np.float64)
    expected[:, 3:6] *= np.pi / 180
    np.testing.assert_allclose(sample.windows[offsets.index(9)], expected, rtol=1e-6)  # gyroscope in rad/s, the rest as sent
    assert captures.state()["tcn-encoder"] == {
        "kept": 4, "taken": 10, "capacity": 4, "file": str(tmp_path / "tcn-encoder.npz"), "stopped": ""
    }  # fmt: skip


def test_the_rate_is_the_share_of_windows_taken(tmp_path: Path) -> None:
    captures = Captures(tmp_path, 10_000, 0.1, 60, [].append)
    captures.serve("tcn-encoder", 1, "r", LAYOUT, MODEL_UNITS)
    for _ in range(5_000):
        captures.offer(1, _realistic()[None])
    assert 400 < captures.samples["tcn-encoder"].taken < 600


def test_the_sample_is_written_atomically_and_read_back_after_a_restart(tmp_path: Path) -> None:
    captures = _captures(tmp_path)
    captures.serve("tcn-encoder", 1, "tcn-encoder-1.0.0-a", LAYOUT, MODEL_UNITS)
    for i in range(3):
        captures.offer(1, _realistic()[None] + i)
    asyncio.run(captures.write())
    stored = _stored(tmp_path / "tcn-encoder.npz")
    assert stored["windows"].shape == (3, 100, 9)
    assert stored["windows"].dtype == np.float32
    assert list(stored["release"]) == ["tcn-encoder-1.0.0-a"] * 3
    assert list(stored["channels"]) == list(CHANNELS)
    assert list(stored["units"]) == list(MODEL_UNITS)
    assert np.all(np.diff(stored["time"]) >= 0)
    assert sorted(os.listdir(tmp_path)) == ["tcn-encoder.npz"]  # no temporary file left
    modified = (tmp_path / "tcn-encoder.npz").stat().st_mtime_ns
    asyncio.run(captures.write())  # nothing changed: not written again
    assert (tmp_path / "tcn-encoder.npz").stat().st_mtime_ns == modified

    again = _captures(tmp_path)
    again.serve("tcn-encoder", 5, "tcn-encoder-1.0.0-b", LAYOUT, MODEL_UNITS)
    assert again.samples["tcn-encoder"].kept == 3
    again.offer(5, _realistic()[None])
    asyncio.run(again.write())
    stored = _stored(tmp_path / "tcn-encoder.npz")
    assert sorted(stored["release"]) == ["tcn-encoder-1.0.0-a"] * 3 + ["tcn-encoder-1.0.0-b"]


def test_a_file_of_another_window_is_set_aside_never_overwritten(tmp_path: Path) -> None:
    old = _captures(tmp_path)
    old.serve("tcn-encoder", 1, "r", Layout((50, 9), CHANNELS, MODEL_UNITS), MODEL_UNITS)
    old.offer(1, np.zeros((1, 50, 9), np.float32))
    asyncio.run(old.write())
    before = (tmp_path / "tcn-encoder.npz").read_bytes()
    new = _captures(tmp_path)
    new.serve("tcn-encoder", 1, "r2", LAYOUT, MODEL_UNITS)
    assert new.samples["tcn-encoder"].kept == 0
    new.offer(1, _realistic()[None])
    asyncio.run(new.write())
    assert (tmp_path / f"tcn-encoder.npz{SET_ASIDE}").read_bytes() == before
    assert _stored(tmp_path / "tcn-encoder.npz")["windows"].shape == (1, 100, 9)
    (tmp_path / "tcn-encoder.npz").write_bytes(b"not a capture")
    unreadable = _captures(tmp_path)
    unreadable.serve("tcn-encoder", 1, "r3", LAYOUT, MODEL_UNITS)
    assert unreadable.samples["tcn-encoder"].set_aside
    assert unreadable.samples["tcn-encoder"].kept == 0


def test_a_full_disk_stops_the_capture_counted_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    failures: list[str] = []
    captures = _captures(tmp_path, failures=failures)
    captures.serve("tcn-encoder", 1, "r", LAYOUT, MODEL_UNITS)
    captures.offer(1, _realistic()[None])
    (tmp_path / ".tcn-encoder.npz.tmp").symlink_to("/dev/full")  # the kernel's ENOSPC on every write
    asyncio.run(captures.write())
    sample = captures.samples["tcn-encoder"]
    assert failures == ["tcn-encoder"]
    assert "No space left on device" in sample.stopped
    assert os.listdir(tmp_path) == []
    captures.offer(1, _realistic()[None])
    assert sample.taken == 1  # stopped: nothing more is taken


def test_the_sidecar_captures_what_it_answers_and_answers_the_same(bundle: Path, tmp_path: Path) -> None:
    body = json.dumps({"x": _realistic().tolist()}).encode()
    units_file = tmp_path / "client_units.json"
    units_file.write_text(json.dumps({"tcn-encoder": DEG}))
    with running(bundle, client_units_file=units_file) as plain:
        answer = post(plain.url, body).json()
    capture = tmp_path / "capture"
    capture.mkdir()
    settings = {"capture_windows": 5, "capture_rate": 1.0, "capture_flush_s": 3600, "capture_dir": capture}
    with running(bundle, client_units_file=units_file, **settings) as s:
        for _ in range(8):
            assert post(s.url, body).json() == answer  # the capture changes no answer
        httpx.post(f"{s.url}/infer/infer", json={"x": np.zeros((100, 9)).tolist()}, timeout=5)  # EdgeInfer's health check
        state = httpx.get(f"http://127.0.0.1:{s.control_port}/control/state").json()["capture"]["tcn-encoder"]
        assert (state["kept"], state["taken"], state["stopped"]) == (5, 8, "")  # the health check is not taken
        metrics = httpx.get(f"{s.url}/metrics").text
        assert 'hailo_sidecar_capture_windows{model="tcn-encoder"} 5.0' in metrics
        assert 'hailo_sidecar_capture_taken_total{model="tcn-encoder"} 8.0' in metrics
    stored = _stored(capture / "tcn-encoder.npz")  # written when the sidecar stopped
    expected = _realistic().astype(np.float64)
    expected[:, 3:6] *= np.pi / 180
    assert stored["windows"].shape == (5, 100, 9)
    np.testing.assert_allclose(stored["windows"][0], expected, rtol=1e-6)
    assert set(stored["release"]) == {bundle.name}
    with running(bundle, client_units_file=units_file, **settings) as s:
        state = httpx.get(f"http://127.0.0.1:{s.control_port}/control/state").json()["capture"]["tcn-encoder"]
        assert (state["kept"], state["taken"]) == (5, 0)  # kept across the restart
