"""Test helper: windows from the fleet (issue #41), as a Pi's capture holds them and as collect.yml leaves them on the
controller."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hailo_pipeline.builder.calibration import synthetic_windows
from hailo_pipeline.bundle import fleet_windows
from hailo_pipeline.bundle.fleet_windows import Captured
from hailo_pipeline.cli import main

CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz", "mx", "my", "mz")
MODEL_UNITS = ("m/s^2",) * 3 + ("rad/s",) * 3 + ("uT",) * 3


def capture(windows: np.ndarray, start: float, release: str, units: tuple[str, ...] = MODEL_UNITS) -> Captured:
    """A capture file's content: `windows` (n, 100, 9) taken one a second from `start`."""
    n = len(windows)
    return Captured(windows.astype(np.float32), start + np.arange(n, dtype=np.float64), np.asarray([release] * n), CHANNELS, units)


def physical(count: int, seed: int) -> np.ndarray:
    """Physics-shaped windows (count, 100, 9) in m/s^2, rad/s and uT, as a Pi would capture them."""
    return synthetic_windows(count, 100, 1, seed)[:, 0]


def fleet_data(tmp_path: Path, gyro_gain: float = 1.0) -> tuple[Path, np.ndarray]:
    """A fleet-data folder as collect.yml leaves it, through the CLI: edge-01's capture of 200 windows with the
    gyroscope in deg/s (other units than the spec's: converted when read), and 100 raw windows recorded elsewhere
    (.npy, N x rows x channels, in the model's units). Returns it and the 300 windows in the model's units; their
    rotation is gyro_gain times the synthetic calibration's."""
    into, pi = tmp_path / "fleet-data", tmp_path / "pi"
    pi.mkdir()
    deg = ("m/s^2",) * 3 + ("deg/s",) * 3 + ("uT",) * 3
    windows = physical(300, 2)
    windows[..., 3:6] *= gyro_gain
    as_deg = windows.copy()
    as_deg[..., 3:6] *= 180 / np.pi
    fleet_windows.write(pi / "tcn-encoder.npz", capture(as_deg[:200], 0.0, "tcn-encoder-1.0.0-a", deg))
    if main(["collect-capture", str(pi / "tcn-encoder.npz"), "--host", "edge-01", "--into", str(into), "--json"]) != 0:
        raise RuntimeError("hailo-pipeline collect-capture failed")
    np.save(into / "tcn-encoder/recorded-elsewhere.npy", windows[200:])
    return into, windows
