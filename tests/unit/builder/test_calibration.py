"""Synthetic windows obey the physics they claim; real windows load with shape checks; the lint bites."""

import re
from pathlib import Path

import numpy as np
import pytest

from hailo_pipeline.builder.calibration import RATE_HZ, REGIMES, lint, load_windows, synthetic_windows
from hailo_pipeline.bundle.model_io import Normalization
from hailo_pipeline.errors import PipelineError

NORM = Normalization(
    mean=(0.12, -0.08, 9.78, 0.002, -0.001, 0.003, 22.4, -8.7, 43.2),
    std=(3.92, 3.87, 2.45, 1.24, 1.31, 0.98, 28.5, 31.2, 24.8),
)


def test_same_seed_same_windows_other_seed_other_windows() -> None:
    a, b, c = synthetic_windows(12, 100, 1, 7), synthetic_windows(12, 100, 1, 7), synthetic_windows(12, 100, 1, 8)
    assert a.shape == (12, 1, 100, 9)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_synthetic_windows_in_a_spec_s_units_are_the_base_units_converted() -> None:
    base = synthetic_windows(6, 100, 1, 3)
    units = ("g", "g", "g", "deg/s", "deg/s", "deg/s", "uT", "uT", "uT")
    converted = synthetic_windows(6, 100, 1, 3, units)
    np.testing.assert_allclose(converted[..., :3], base[..., :3] / 9.80665, rtol=1e-6)
    np.testing.assert_allclose(converted[..., 3:6], base[..., 3:6] * (180 / np.pi), rtol=1e-6)
    np.testing.assert_array_equal(converted[..., 6:], base[..., 6:])
    np.testing.assert_array_equal(synthetic_windows(6, 100, 1, 3, ("m/s^2",) * 3 + ("rad/s",) * 3 + ("uT",) * 3), base)


def test_rest_windows_read_gravity_earth_field_and_no_rotation() -> None:
    windows = synthetic_windows(60, 100, 1, 0)[:: len(REGIMES), 0]  # every "rest" window
    acc, gyro, mag = windows[..., :3], windows[..., 3:6], windows[..., 6:]
    np.testing.assert_allclose(np.linalg.norm(acc, axis=-1).mean(axis=1), 9.81, atol=0.3)
    assert np.abs(gyro).mean() < 0.05
    field = np.linalg.norm(mag, axis=-1).mean(axis=1)
    assert np.all((field > 15) & (field < 90))


def test_walking_has_a_gait_frequency_and_turning_a_yaw_rate() -> None:
    windows = synthetic_windows(len(REGIMES) * 4, 200, 1, 1)[:, 0]
    walking = windows[REGIMES.index("walk") :: len(REGIMES)]
    spectrum = np.abs(np.fft.rfft(np.linalg.norm(walking[..., :3], axis=-1) - 9.81, axis=1)).mean(axis=0)
    peak_hz = np.fft.rfftfreq(200, 1 / RATE_HZ)[1:][spectrum[1:].argmax()]
    assert 1.4 <= peak_hz <= 2.4
    turning = windows[REGIMES.index("turn") :: len(REGIMES)]
    gyro_norm = np.linalg.norm(turning[..., 3:6].mean(axis=1), axis=-1)
    assert np.all(gyro_norm > 0.3), "a turn rotates steadily"


def test_two_device_windows_have_independent_rows() -> None:
    windows = synthetic_windows(6, 100, 2, 0)
    assert windows.shape == (6, 2, 100, 9)
    assert not np.allclose(windows[:, 0], windows[:, 1])


def test_real_windows_load_with_shape_checks(tmp_path: Path) -> None:
    np.save(tmp_path / "ok.npy", np.zeros((5, 100, 9), np.float64))
    assert load_windows(tmp_path / "ok.npy", 100, 1).shape == (5, 1, 100, 9)
    np.save(tmp_path / "bad.npy", np.zeros((5, 9, 100)))
    with pytest.raises(PipelineError, match=r"shape \(5, 9, 100\); expected \(N, 100, 9\)"):
        load_windows(tmp_path / "bad.npy", 100, 1)
    with pytest.raises(PipelineError, match="not found"):
        load_windows(tmp_path / "absent.npy", 100, 1)
    (tmp_path / "text.npy").write_text("DUMMY")
    with pytest.raises(PipelineError, match=re.escape("not a numeric .npy")):
        load_windows(tmp_path / "text.npy", 100, 1)


def test_lint_reports_ranges_and_coverage_of_good_data() -> None:
    report = lint(synthetic_windows(1024, 100, 1, 0), NORM, 1024)
    assert report.errors == []
    assert [c.channel for c in report.channels] == ["ax", "ay", "az", "gx", "gy", "gz", "mx", "my", "mz"]
    az = report.channels[2]
    assert az.min < 9.8 < az.max
    assert all(0 <= c.coverage <= 1 for c in report.channels)


def test_lint_errors_too_few_nan_and_degenerate() -> None:
    windows = synthetic_windows(64, 100, 1, 0)
    windows[3, 0, 10, 4] = np.nan
    windows[..., 8] = 43.2
    report = lint(windows, NORM, 1024)
    assert any("64 calibration windows, fewer than the 1024 required" in e for e in report.errors)
    assert any("1 calibration values are NaN or infinite" in e for e in report.errors)
    assert any(e.startswith("channel mz is degenerate") for e in report.errors)


def test_lint_warns_about_shock_outliers_and_narrow_coverage() -> None:
    windows = synthetic_windows(1024, 100, 1, 0)
    windows[::10, 0, 50, 0] = 300.0  # accelerometer shocks
    windows[..., 5] = np.random.default_rng(0).normal(0, 0.01, windows.shape[:-1])  # gz barely moves
    report = lint(windows, NORM, 1024)
    assert any(w.startswith("channel ax:") and "beyond 6 sigma" in w for w in report.warnings)
    assert any(w.startswith("channel gz covers only") for w in report.warnings)
