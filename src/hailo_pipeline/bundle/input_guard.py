"""The input guard: what clients send, per channel, against the envelope of the windows the model was calibrated on.

The build computes the envelope from its calibration windows (in the model's units: `envelope`) and the bundle
carries it (release.json `calibration.envelope`). An InputGuard then takes client windows as clients send them,
with the per-channel scale that converts them to the model's units as the sidecar converts them (applied once per
batch). `observe` copies a window into a batch; every BATCH windows one vectorized pass counts them (per window and
channel: extremes against the envelope, sum of squares, samples pinned at an extreme, the unit it looks like), a
few microseconds a window. `verdict` judges the counts when asked, over two generations (`rotate` starts a new
one), so that a client fixed leaves the verdict. One caller at a time (the sidecar's event loop); it never changes
a window or an answer.
Thresholds and why: docs/decisions/input-guard.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.bundle import units
from hailo_pipeline.errors import PipelineError

QUANTILES = (0.1, 1.0, 50.0, 99.0, 99.9)  # percent, of every calibration sample of a channel
# A window leaves the envelope when a value lies beyond the 0.1..99.9 % range widened by this share of its width
# on each side: held-out windows of the calibration's own kind stay inside (tests/unit/builder/test_input_guard.py).
BAND_MARGIN = 0.25
SHARE_MAX = 0.05  # a channel is flagged when more than this share of windows leaves the envelope, is flat or pinned
BATCH = 64  # windows counted together
SATURATION_SHARE = 0.05  # a window is pinned when this share of its samples sit at its min or max (beyond 1..99 %)
# No IMU reports more than this, in the quantity's base unit: 16 g and 2000 deg/s are the widest common full-scale
# ranges of accelerometers and gyroscopes; 4900 uT is the AK09916 magnetometer's, the widest of the common ones.
IMPOSSIBLE = {"acceleration": 16 * units.UNITS["g"].factor, "angular rate": 35.0, "magnetic field": 4900.0}
# Quantities with a floor (gravity, the earth's field) tell a unit that is too large from a still sensor; angular
# rate has none, so only values larger than the calibration's suggest a unit for it.
FLOORED = ("acceleration", "magnetic field")
VERDICTS = ("ok", "out_of_envelope", "unit_mismatch", "constant", "saturated", "impossible")


@dataclass(frozen=True)
class Envelope:
    """Per-channel statistics of the calibration windows, in the model's units (`units`)."""

    channels: tuple[str, ...]
    units: tuple[str, ...]
    mean: NDArray[np.float64]
    std: NDArray[np.float64]
    quantiles: NDArray[np.float64]  # (len(QUANTILES), channels)

    def as_manifest(self) -> dict[str, Any]:
        return {
            "quantiles": list(QUANTILES),
            "channels": {
                channel: {
                    "unit": self.units[c],
                    "mean": float(self.mean[c]),
                    "std": float(self.std[c]),
                    "quantiles": [float(q) for q in self.quantiles[:, c]],
                }
                for c, channel in enumerate(self.channels)
            },
        }


def envelope(windows: NDArray[Any], channels: Sequence[str], model_units: Sequence[str]) -> Envelope:
    """The envelope of calibration windows (..., T, channels) in model_units."""
    samples = np.asarray(windows, np.float64).reshape(-1, len(channels))
    return Envelope(tuple(channels), tuple(model_units), samples.mean(0), samples.std(0), np.percentile(samples, QUANTILES, axis=0))


def read_envelope(manifest: dict[str, Any]) -> Envelope | None:
    """The bundle's envelope; None for a bundle built before the guard (it has none)."""
    raw = manifest.get("calibration", {}).get("envelope")
    if raw is None:
        return None
    try:
        if raw["quantiles"] != list(QUANTILES):
            raise ValueError(f"quantiles {raw['quantiles']}, this tool reads {list(QUANTILES)}")
        items = list(raw["channels"].items())
        return Envelope(
            tuple(channel for channel, _ in items),
            tuple(units.check_unit(channel, entry["unit"]) for channel, entry in items),
            np.array([entry["mean"] for _, entry in items], np.float64),
            np.array([entry["std"] for _, entry in items], np.float64),
            np.array([entry["quantiles"] for _, entry in items], np.float64).T.reshape(len(QUANTILES), len(items)),
        )
    except (KeyError, TypeError, ValueError, AttributeError, PipelineError) as exc:
        raise PipelineError(f"release.json calibration.envelope is malformed ({exc}): rebuild the bundle") from None


@dataclass
class _Counts:
    """One generation's counts, per channel (votes: per channel and candidate unit)."""

    windows: int
    samples: int
    squares: NDArray[np.float64]
    max_abs: NDArray[np.float64]
    outside: NDArray[np.int64]
    impossible: NDArray[np.int64]
    constant: NDArray[np.int64]
    saturated: NDArray[np.int64]
    votes: NDArray[np.int64]

    @classmethod
    def zero(cls, channels: int, votes: tuple[int, ...]) -> _Counts:
        outside, impossible, constant, saturated = (np.zeros(channels, np.int64) for _ in range(4))
        return cls(0, 0, np.zeros(channels), np.zeros(channels), outside, impossible, constant, saturated, np.zeros(votes, np.int64))

    def plus(self, other: _Counts) -> _Counts:
        return _Counts(
            self.windows + other.windows,
            self.samples + other.samples,
            self.squares + other.squares,
            np.maximum(self.max_abs, other.max_abs),
            self.outside + other.outside,
            self.impossible + other.impossible,
            self.constant + other.constant,
            self.saturated + other.saturated,
            self.votes + other.votes,
        )


@dataclass(frozen=True)
class ChannelVerdict:
    channel: str
    verdict: str  # one of VERDICTS
    factor: float | None  # with unit_suggestion: how many times larger the client's numbers are than client_units'
    unit_suggestion: str | None  # the unit the client looks like it sends
    scale: float  # the client's RMS over the calibration's
    outside_share: float  # of windows, beyond the envelope's band
    message: str


@dataclass(frozen=True)
class Verdict:
    envelope: bool  # False: the bundle has none and nothing was judged
    windows: int
    channels: list[ChannelVerdict]

    @property
    def flagged(self) -> list[ChannelVerdict]:
        return [c for c in self.channels if c.verdict != "ok"]

    def as_dict(self) -> dict[str, Any]:
        return {"envelope": self.envelope, "windows": self.windows, "channels": [asdict(c) for c in self.channels]}


class InputGuard:
    """Running per-channel counts of client windows, judged against the envelope in the model's units.

    client_units: the client's declared units (default the model's): a suggestion names the unit the client really
    seems to send instead. scale: per channel, what a window in client_units is multiplied by to be in the model's
    units (units.factors); None: windows come in the model's units already.
    """

    def __init__(self, env: Envelope | None, client_units: Sequence[str] | None = None, scale: Sequence[float] | None = None) -> None:
        self.envelope = env
        self._batch: NDArray[Any] | None = None  # windows not counted yet, (BATCH, channels, samples)
        self._pending = 0
        n = 0 if env is None else len(env.channels)
        # what a window is multiplied by to be in the model's units, once per batch (None: it is already)
        self._scale = None if scale is None or all(s == 1 for s in scale) else np.asarray(scale, np.float64)[:, None]
        if env is None:
            self._counts, self._previous = _Counts.zero(n, (0, 0)), _Counts.zero(n, (0, 0))
            return
        self.client_units = tuple(client_units or env.units)
        q = env.quantiles
        width = q[-1] - q[0]
        self._low, self._high = q[0] - BAND_MARGIN * width, q[-1] + BAND_MARGIN * width
        self._q1, self._q99 = q[1], q[-2]
        self._limit = np.array(
            [IMPOSSIBLE[units.quantity(c)] / units.UNITS[u].factor for c, u in zip(env.channels, env.units, strict=True)]
        )
        self._reference = env.mean**2 + env.std**2  # the calibration's mean square
        groups = list(_by_quantity(env.channels).values())
        self._groups = [np.array(members) for members in groups]
        self._group_of = np.array([next(g for g, members in enumerate(groups) if c in members) for c in range(n)])
        self._floored = np.array([units.quantity(c) in FLOORED for c in env.channels])
        self._candidates, self._log_factor, self._bounds = _unit_table(env.channels, self.client_units)
        self._declared = np.argmin(np.abs(self._log_factor), axis=1)  # the client unit's own column (log factor 0)
        self._counts = _Counts.zero(n, self._log_factor.shape)
        self._previous = _Counts.zero(n, self._log_factor.shape)  # the generation before (rotate)

    def rotate(self) -> None:
        """Starts a new generation of counts; the one before is dropped. A verdict covers the current generation and
        the one before, so counts from before a fix leave it after two rotations."""
        self._count()
        self._previous, self._counts = self._counts, _Counts.zero(len(self._counts.squares), self._counts.votes.shape)

    def observe(self, window: NDArray[Any]) -> None:
        """Counts one client window (..., T, channels), as the client sent it; changes nothing. The window is copied
        into a batch, counted BATCH at a time: one vectorized pass instead of a dozen small ones per window."""
        if self.envelope is None:
            self._counts.windows += 1
            return
        rows = window.reshape(-1, window.shape[-1])
        if self._batch is None or rows.T.shape != self._batch.shape[1:] or rows.dtype != self._batch.dtype:
            self._count()
            self._batch = np.empty((BATCH, *rows.T.shape), rows.dtype)
        self._batch[self._pending] = rows.T  # (channels, samples): reductions then run over contiguous memory
        self._pending += 1
        if self._pending == BATCH:
            self._count()

    def _count(self) -> None:
        """Counts the batched windows: their extremes against the envelope, their units' votes, and the running sums."""
        if not self._pending:
            return
        assert self._batch is not None
        x = self._batch[: self._pending]  # (windows, channels, samples)
        if self._scale is not None:
            x = x * self._scale
        counts, self._pending = self._counts, 0
        low, high = x.min(2), x.max(2)  # (windows, channels)
        squares = np.square(x, dtype=np.float64).sum(2)
        counts.windows += x.shape[0]
        counts.samples += x.shape[0] * x.shape[2]
        counts.squares += squares.sum(0)
        magnitude = np.maximum(-low, high)
        np.maximum(counts.max_abs, magnitude.max(0), out=counts.max_abs)
        counts.outside += ((low < self._low) | (high > self._high)).sum(0)
        counts.impossible += (magnitude > self._limit).sum(0)
        flat = low == high
        counts.constant += flat.sum(0)
        pinned_at = math.ceil(SATURATION_SHARE * x.shape[2])
        at_high = ((x == high[..., None]).sum(2) >= pinned_at) & (high >= self._q99)
        at_low = ((x == low[..., None]).sum(2) >= pinned_at) & (low <= self._q1)
        counts.saturated += ((at_high | at_low) & ~flat).sum(0)
        counts.votes += self._vote(squares / x.shape[2], magnitude)

    def _vote(self, mean_square: NDArray[np.float64], magnitude: NDArray[Any]) -> NDArray[np.int64]:
        """Each window's channel votes for the unit its scale (RMS over the calibration's) is nearest on a log scale,
        when its sensor's channels together point to the same one (an accelerometer's include gravity whichever way
        it points); a smaller unit only for a quantity with a floor (FLOORED), and only a unit in which the window's
        values are ones an IMU produces."""
        tiny = np.finfo(np.float64).tiny
        log_scale = 0.5 * np.log(np.maximum(mean_square / self._reference, tiny))
        group = np.stack([mean_square[:, m].sum(1) / self._reference[m].sum() for m in self._groups], 1)
        log_group = 0.5 * np.log(np.maximum(group, tiny))[:, self._group_of]
        nearest = (log_scale[..., None] > self._bounds).sum(2)  # (windows, channels): a column of the unit table
        log_factor = np.take_along_axis(self._log_factor[None], nearest[..., None], 2)[..., 0]
        vote = (
            (nearest != self._declared)
            & (nearest == (log_group[..., None] > self._bounds).sum(2))
            & ((log_factor > 0) | self._floored)
            & (magnitude <= self._limit * np.exp(log_factor))
        )
        return (vote[..., None] & (nearest[..., None] == np.arange(self._log_factor.shape[1]))).sum(0)

    def verdict(self) -> Verdict:
        """Each channel's verdict on the windows of this generation and the one before (the batched ones counted first)."""
        env = self.envelope
        self._count()
        counts = self._counts.plus(self._previous)
        if env is None or not counts.windows:
            return Verdict(env is not None, counts.windows, [])
        scale = np.sqrt(counts.squares / counts.samples / np.maximum(self._reference, np.finfo(np.float64).tiny))
        return Verdict(True, counts.windows, [self._judge(c, float(scale[c]), counts) for c in range(len(env.channels))])

    def _judge(self, c: int, scale: float, counts: _Counts) -> ChannelVerdict:
        env = self.envelope
        assert env is not None
        channel, unit, client_unit, windows = env.channels[c], env.units[c], self.client_units[c], counts.windows
        outside = float(counts.outside[c] / windows)
        share = {"constant": counts.constant[c] / windows, "saturated": counts.saturated[c] / windows}
        top = int(np.argmax(counts.votes[c]))
        voted = float(counts.votes[c, top] / windows)
        suggestion = self._candidates[c][top] if voted > SHARE_MAX else None
        factor = units.factor(channel, client_unit, suggestion) if suggestion else None

        def entry(verdict: str, message: str) -> ChannelVerdict:
            return ChannelVerdict(channel, verdict, factor, suggestion, scale, outside, message)

        if suggestion:
            return entry(
                "unit_mismatch",
                f"{channel} looks like {suggestion} where {client_unit} is declared in {voted:.0%} of windows (factor {factor:.4g}; "
                f"RMS {scale:.3g}x the calibration's) - set client_units {channel}: {suggestion}",
            )
        if counts.impossible[c]:
            return entry(
                "impossible",
                f"{channel} reaches {counts.max_abs[c]:.3g} {unit} in {counts.impossible[c]} of {windows} windows: no IMU produces more "
                f"than {self._limit[c]:.4g} {unit} (a corrupt client, or one in other units)",
            )
        if share["constant"] > SHARE_MAX:
            return entry("constant", f"{channel} is constant in {share['constant']:.0%} of windows: a stuck or disconnected sensor")
        if share["saturated"] > SHARE_MAX:
            return entry(
                "saturated",
                f"{channel} sits at its extreme in {share['saturated']:.0%} of windows: the sensor's full-scale range clips the motion",
            )
        if outside > SHARE_MAX:
            return entry(
                "out_of_envelope",
                f"{channel} leaves the calibration envelope [{self._low[c]:.4g}, {self._high[c]:.4g}] {unit} in {outside:.0%} of windows "
                f"(at most {SHARE_MAX:.0%} expected): the model and its quantization saw nothing like it",
            )
        return entry("ok", f"{channel} is within the calibration envelope")


def _by_quantity(channels: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for c, channel in enumerate(channels):
        groups.setdefault(units.quantity(channel), []).append(c)
    return groups


def _unit_table(
    channels: Sequence[str], client_units: Sequence[str]
) -> tuple[list[tuple[str, ...]], NDArray[np.float64], NDArray[np.float64]]:
    """Per channel, its quantity's units by size; the log of each one's factor from the client's declared unit (how many
    times larger a client's numbers are in it: rad/s -> deg/s 57.3); and the midpoints between those logs, which tell
    the nearest unit of a scale by how many of them it exceeds. Padded to the widest quantity (with +inf bounds)."""
    candidates = [tuple(sorted(units.choices(c), key=lambda unit: -units.UNITS[unit].factor)) for c in channels]
    width = max(len(names) for names in candidates)
    log_factor = np.full((len(channels), width), np.inf)
    bounds = np.full((len(channels), width - 1), np.inf)
    for c, (channel, declared, names) in enumerate(zip(channels, client_units, candidates, strict=True)):
        logs = np.log([units.factor(channel, declared, name) for name in names])
        log_factor[c, : len(names)] = logs
        bounds[c, : len(names) - 1] = (logs[1:] + logs[:-1]) / 2
    return candidates, log_factor, bounds
