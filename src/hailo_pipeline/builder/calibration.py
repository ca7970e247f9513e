"""Calibration windows: real (.npy of raw windows) or synthetic and physics-based, plus their lint.

Windows are raw sensor values in EdgeInfer's channel order, in the spec's input.units. The generator makes them
in accelerometer m/s^2 (specific force, so a still sensor reads +9.81 on its up axis), gyroscope rad/s and
magnetometer uT, then converts them to those (a model trained on deg/s gets deg/s). Shape (N, H, T, 9): H rows
per window (1 for the TCN; 2 devices for the Conv2d-FSQ model); an .npy of (N, T, 9) means H = 1.

The synthetic generator moves a rigid body through one of several activity regimes, each window its own
draw: orientation (roll, pitch, yaw) over time gives the body-frame gravity, the earth field seen by the
magnetometer (site-specific field + hard-iron offset) and the angular rate (Euler kinematics);
linear acceleration comes from the regime's motion (gait harmonics with heel-strike impacts, shaking,
posture changes); then per-sensor bias and white noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.builder.spec import IMU_CHANNELS, ModelSpec
from hailo_pipeline.bundle import fleet_windows
from hailo_pipeline.bundle import units as units_io
from hailo_pipeline.bundle.model_io import Normalization
from hailo_pipeline.errors import PipelineError

RATE_HZ = 100.0
GRAVITY = 9.81
REGIMES = ("rest", "walk", "run", "turn", "shake", "posture_change")

Windows = NDArray[np.float32]


def _rotation(roll: NDArray[Any], pitch: NDArray[Any], yaw: NDArray[Any]) -> NDArray[Any]:
    """Body-to-world rotation matrices R = Rz(yaw) Ry(pitch) Rx(roll), shape (T, 3, 3)."""
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    return np.stack(
        [
            np.stack([cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr], -1),
            np.stack([sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr], -1),
            np.stack([-sp, cp * sr, cp * cr], -1),
        ],
        -2,
    )


def _motion(regime: str, t: NDArray[Any], rng: np.random.Generator) -> tuple[NDArray[Any], NDArray[Any]]:
    """Euler angles (T, 3) and world-frame linear acceleration (T, 3) for one window of a regime."""
    n = len(t)
    base = np.array([rng.normal(0, 0.3), rng.normal(0, 0.3), rng.uniform(-np.pi, np.pi)])
    angles = np.tile(base, (n, 1))
    accel = np.zeros((n, 3))
    phase = rng.uniform(0, 2 * np.pi)
    if regime == "rest":
        angles += rng.normal(0, 0.002, (n, 3)).cumsum(0) * 0.1
    elif regime in ("walk", "run", "turn"):
        f = rng.uniform(1.6, 2.2) if regime != "run" else rng.uniform(2.4, 3.2)
        amp = rng.uniform(1.5, 3.0) if regime != "run" else rng.uniform(4.0, 9.0)
        w = 2 * np.pi * f * t + phase
        accel[:, 2] = amp * (np.sin(w) + 0.35 * np.sin(2 * w + 0.5))
        accel[:, 0] = 0.4 * amp * np.sin(w / 2 + 1.0)
        accel[:, 1] = 0.3 * amp * np.sin(w + 2.0)
        strikes = (np.sin(w) > 0.97).astype(float)
        accel[:, 2] += strikes * rng.uniform(2, 6 if regime == "run" else 3)
        angles[:, 0] += 0.05 * np.sin(w)
        angles[:, 1] += 0.08 * np.sin(w + 0.7)
        yaw_rate = rng.uniform(0.5, 2.0) * rng.choice([-1, 1]) if regime == "turn" else rng.normal(0, 0.05)
        angles[:, 2] += yaw_rate * t
    elif regime == "shake":
        f = rng.uniform(4.0, 6.0)
        w = 2 * np.pi * f * t + phase
        envelope = np.clip(np.sin(np.pi * t / t[-1]), 0, 1)
        angles[:, 0] += rng.uniform(0.1, 0.25) * envelope * np.sin(w)
        accel[:, 1] = rng.uniform(5, 15) * envelope * np.sin(w + 0.3)
        accel[:, 2] = rng.uniform(1, 4) * envelope * np.sin(2 * w)
    elif regime == "posture_change":
        step = 1 / (1 + np.exp(-(t - rng.uniform(0.3, 0.7) * t[-1]) / 0.08))
        angles[:, 1] += rng.uniform(-1.2, 1.2) * step
        angles[:, 0] += rng.uniform(-0.4, 0.4) * step
        accel[:, 2] = np.gradient(np.gradient(0.3 * step, t), t)
    return angles, accel


def _window(regime: str, window: int, rng: np.random.Generator) -> NDArray[Any]:
    t = np.arange(window) / RATE_HZ
    angles, accel_world = _motion(regime, t, rng)
    rot = _rotation(angles[:, 0], angles[:, 1], angles[:, 2])
    to_body = np.transpose(rot, (0, 2, 1))
    specific_force = accel_world + np.array([0.0, 0.0, GRAVITY])
    acc = np.einsum("tij,tj->ti", to_body, specific_force)
    roll, pitch = angles[:, 0], angles[:, 1]
    rates = np.gradient(angles, t, axis=0)
    gyro = np.stack(
        [
            rates[:, 0] - np.sin(pitch) * rates[:, 2],
            np.cos(roll) * rates[:, 1] + np.sin(roll) * np.cos(pitch) * rates[:, 2],
            -np.sin(roll) * rates[:, 1] + np.cos(roll) * np.cos(pitch) * rates[:, 2],
        ],
        -1,
    )
    horizontal, vertical = rng.uniform(15, 35), rng.uniform(25, 50) * rng.choice([-1, 1])
    declination = rng.uniform(-0.3, 0.3)
    field_world = np.array([horizontal * np.cos(declination), horizontal * np.sin(declination), -vertical])
    hard_iron = rng.normal(0, 8, 3)
    mag = np.einsum("tij,j->ti", to_body, field_world) + hard_iron
    acc += rng.normal(0, 0.05, 3) + rng.normal(0, 0.03, (window, 3))
    gyro += rng.normal(0, 0.01, 3) + rng.normal(0, 0.005, (window, 3))
    mag += rng.normal(0, 0.4, (window, 3))
    return np.concatenate([acc, gyro, mag], axis=1)


def synthetic_windows(count: int, window: int, height: int = 1, seed: int = 0, units: Sequence[str] | None = None) -> Windows:
    """`count` windows (count, height, window, 9), regimes in turn; the same seed gives the same data. Made in
    m/s^2, rad/s and uT; with `units` (one per channel: a spec's input.units), converted to them."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, height, window, len(IMU_CHANNELS)), np.float32)
    for i in range(count):
        regime = REGIMES[i % len(REGIMES)]
        for h in range(height):
            out[i, h] = _window(regime, window, rng)
    if units is not None:
        out *= np.asarray(units_io.factors(IMU_CHANNELS, units_io.default_units(IMU_CHANNELS), units), np.float32)
    return out


def load_windows(path: Path, window: int, height: int) -> Windows:
    """Real windows from an .npy in raw units (the spec's input.units): (N, T, 9), or (N, H, T, 9) for multi-row models."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise PipelineError(f"calibration file {path} not found") from None
    except ValueError as exc:
        raise PipelineError(f"{path} is not a numeric .npy file: {exc}") from None
    shape = data.shape
    if data.ndim == 3 and height == 1:
        data = data[:, None]
    expected = f"(N, {window}, 9)" if height == 1 else f"(N, {height}, {window}, 9)"
    if data.ndim != 4 or data.shape[1:] != (height, window, len(IMU_CHANNELS)):
        raise PipelineError(f"{path} holds windows of shape {shape}; expected {expected} in raw units")
    if not np.issubdtype(data.dtype, np.number):
        raise PipelineError(f"{path} holds {data.dtype} values; expected numbers")
    return data.astype(np.float32)


def spec_windows(spec: ModelSpec, height: int) -> Windows:
    """The calibration windows a spec asks for, in its input.units: synthetic (seeded), loaded from its .npy, or the
    fleet's not held out."""
    c = spec.calibration
    if c.source == "synthetic":
        return synthetic_windows(c.windows, spec.input.window, height, c.seed, spec.input.units)
    if c.source == "fleet":
        return fleet_split(spec, height).calibration
    return load_windows(Path(c.source), spec.input.window, height)


@dataclass(frozen=True)
class FleetSplit:
    """The fleet's windows for a spec (calibration.source fleet), in its input.units: calibrated on, held out for the
    gates, and the files they came from."""

    calibration: Windows
    holdout: Windows
    folder: Path
    sources: list[dict[str, Any]]


def fleet_split(spec: ModelSpec, height: int) -> FleetSplit:
    """calibration.fleet_dir's windows (its <name>/ folder when it has one), shuffled with calibration.seed, and
    calibration.holdout_share of them held out."""
    c = spec.calibration
    root = Path(c.fleet_dir)
    folder = root / spec.name if (root / spec.name).is_dir() else root
    windows, sources = fleet_windows.load_folder(folder, spec.input.channels, spec.input.units)
    rows = height * spec.input.window
    if windows.shape[1] != rows:
        raise PipelineError(f"{folder}: windows of {windows.shape[1]} rows; {spec.name} reads {rows} ({height} x {spec.input.window})")
    shaped = windows.reshape(len(windows), height, spec.input.window, len(spec.input.channels))
    order = np.random.default_rng(c.seed).permutation(len(shaped))
    held = max(1, round(len(shaped) * c.holdout_share))
    if len(shaped) - held < 1:
        raise PipelineError(f"{folder}: {len(shaped)} windows leave none to calibrate on after holding out {held}")
    return FleetSplit(shaped[order[held:]], shaped[order[:held]], folder, sources)


@dataclass(frozen=True)
class ChannelStats:
    channel: str
    min: float
    max: float
    mean: float
    std: float
    outlier_share: float  # share of samples more than OUTLIER_Z normalized units from 0
    coverage: float  # share of [-COVERAGE_Z, COVERAGE_Z] spanned by the normalized 0.5..99.5 percentiles


@dataclass(frozen=True)
class CalibrationLint:
    windows: int
    channels: list[ChannelStats]
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


OUTLIER_Z = 6.0
COVERAGE_Z = 3.0


def lint(windows: Windows, normalization: Normalization, min_windows: int) -> CalibrationLint:
    """Per-channel ranges, outliers and normalized-range coverage; too few windows, non-finite values or
    a degenerate (constant) channel are errors."""
    errors: list[str] = []
    warnings: list[str] = []
    if len(windows) < min_windows:
        errors.append(f"{len(windows)} calibration windows, fewer than the {min_windows} required (the DFC wants >= 1024)")
    bad = int((~np.isfinite(windows)).sum())
    if bad:
        errors.append(f"{bad} calibration values are NaN or infinite")
    samples = np.nan_to_num(windows.reshape(-1, windows.shape[-1]).astype(np.float64))
    norm = (samples - np.asarray(normalization.mean)) / np.asarray(normalization.std)
    stats = []
    for c, name in enumerate(IMU_CHANNELS):
        column, z = samples[:, c], norm[:, c]
        lo, hi = np.percentile(z, [0.5, 99.5]) if len(z) else (0.0, 0.0)
        coverage = max(0.0, min(hi, COVERAGE_Z) - max(lo, -COVERAGE_Z)) / (2 * COVERAGE_Z)
        channel = ChannelStats(
            channel=name,
            min=float(column.min()) if len(column) else 0.0,
            max=float(column.max()) if len(column) else 0.0,
            mean=float(column.mean()) if len(column) else 0.0,
            std=float(column.std()) if len(column) else 0.0,
            outlier_share=float(np.mean(np.abs(z) > OUTLIER_Z)) if len(z) else 0.0,
            coverage=float(coverage),
        )
        stats.append(channel)
        if channel.std < 1e-3 * normalization.std[c]:
            errors.append(f"channel {name} is degenerate: std {channel.std:.3g} against a normalization std of {normalization.std[c]:.3g}")
        elif channel.outlier_share > 0.001:
            warnings.append(
                f"channel {name}: {channel.outlier_share:.2%} of samples beyond {OUTLIER_Z:g} sigma widen the quantization range"
            )
        if channel.coverage < 0.25:
            warnings.append(
                f"channel {name} covers only {channel.coverage:.0%} of the normalized range [-3, 3]; real data outside it will clip"
            )
    return CalibrationLint(windows=len(windows), channels=stats, errors=errors, warnings=warnings)
