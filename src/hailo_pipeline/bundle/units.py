"""Sensor units: the fixed vocabulary a spec, a manifest and a host's override name units from (issue #40).

A channel's quantity follows from its name's first letter (EdgeInfer's ax..az, gx..gz, mx..mz):

  a  acceleration    m/s^2 (base), g, mg
  g  angular rate    rad/s (base), deg/s
  m  magnetic field  uT (base), gauss, mG, nT

A unit's factor is its size in the quantity's base unit (1 g = 9.80665 m/s^2), so a value in unit A is
`value * factor(channel, A, B)` in unit B. The model's units (`input.units`) are what it was trained on; a
client's (`input.client_units`, or a host's override) are what it sends; the sidecar converts the one to the other
before normalizing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hailo_pipeline.errors import PipelineError


@dataclass(frozen=True)
class Unit:
    quantity: str
    factor: float  # the unit's size in the quantity's base unit


UNITS: dict[str, Unit] = {
    "m/s^2": Unit("acceleration", 1.0),
    "g": Unit("acceleration", 9.80665),  # standard gravity
    "mg": Unit("acceleration", 9.80665e-3),
    "rad/s": Unit("angular rate", 1.0),
    "deg/s": Unit("angular rate", math.pi / 180),
    "uT": Unit("magnetic field", 1.0),
    "gauss": Unit("magnetic field", 100.0),
    "mG": Unit("magnetic field", 0.1),
    "nT": Unit("magnetic field", 1e-3),
}
QUANTITY_BY_PREFIX = {"a": "acceleration", "g": "angular rate", "m": "magnetic field"}
BASE_UNIT = {"acceleration": "m/s^2", "angular rate": "rad/s", "magnetic field": "uT"}


def quantity(channel: str) -> str:
    """The quantity a channel measures, from its name: a* acceleration, g* angular rate, m* magnetic field."""
    found = QUANTITY_BY_PREFIX.get(channel[:1])
    if found is None:
        prefixes = ", ".join(f"{prefix}* {name}" for prefix, name in QUANTITY_BY_PREFIX.items())
        raise PipelineError(f"channel {channel!r} has no known quantity: channel names start with {prefixes}")
    return found


def choices(channel: str) -> tuple[str, ...]:
    """The units valid for a channel, its quantity's base unit first."""
    wanted = quantity(channel)
    return tuple(name for name, unit in UNITS.items() if unit.quantity == wanted)


def check_unit(channel: str, unit: Any, what: str = "units") -> str:
    """The unit, if it is in the vocabulary and measures the channel's quantity; otherwise an error naming both."""
    valid = choices(channel)
    if unit in valid:
        return str(unit)
    known = UNITS.get(unit) if isinstance(unit, str) else None
    problem = f"{unit!r} is {known.quantity}, not {quantity(channel)}" if known else f"unknown unit {unit!r}"
    raise PipelineError(f"{what}.{channel}: {problem}; valid units for {channel} ({quantity(channel)}): {', '.join(valid)}")


def default_units(channels: Sequence[str]) -> tuple[str, ...]:
    """Each channel's base unit: m/s^2, rad/s and uT, the contract before units were declared."""
    return tuple(BASE_UNIT[quantity(channel)] for channel in channels)


def parse_units(raw: Any, channels: Sequence[str], defaults: Sequence[str], what: str = "units") -> tuple[str, ...]:
    """A per-channel mapping ({gx: deg/s, ...}) over defaults, one unit per channel in channel order.

    Channels the mapping leaves out keep their default; a channel not in `channels` is an error.
    """
    if raw is None:
        return tuple(defaults)
    if not isinstance(raw, Mapping):
        raise PipelineError(f"{what} must be a mapping of channel to unit (for example {{gx: deg/s}}), got {raw!r}")
    unknown = sorted(str(key) for key in raw if key not in channels)
    if unknown:
        raise PipelineError(f"{what}: unknown channel(s) {', '.join(unknown)}; channels: {', '.join(channels)}")
    return tuple(check_unit(channel, raw.get(channel, default), what) for channel, default in zip(channels, defaults, strict=True))


def factor(channel: str, from_unit: str, to_unit: str) -> float:
    """What a value in from_unit is multiplied by to be in to_unit (deg/s -> rad/s: pi/180)."""
    return UNITS[check_unit(channel, from_unit)].factor / UNITS[check_unit(channel, to_unit)].factor


def factors(channels: Sequence[str], from_units: Sequence[str], to_units: Sequence[str]) -> tuple[float, ...]:
    """factor() per channel: the per-channel scale that takes a window from from_units to to_units."""
    return tuple(factor(c, f, t) for c, f, t in zip(channels, from_units, to_units, strict=True))
