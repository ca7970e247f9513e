"""The units vocabulary (bundle/units.py): factors, defaults and the errors a spec or a host's override gets."""

from __future__ import annotations

import math

import pytest

from hailo_pipeline.bundle import units
from hailo_pipeline.errors import PipelineError

CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz", "mx", "my", "mz")


def test_factors_convert_between_units_of_a_quantity() -> None:
    assert units.factor("gx", "deg/s", "rad/s") == pytest.approx(math.pi / 180)
    assert units.factor("gx", "rad/s", "deg/s") == pytest.approx(180 / math.pi)
    assert units.factor("az", "g", "m/s^2") == pytest.approx(9.80665)
    assert units.factor("az", "mg", "g") == pytest.approx(1e-3)
    assert units.factor("mx", "gauss", "uT") == pytest.approx(100.0)
    assert units.factor("mx", "mG", "uT") == pytest.approx(0.1)
    assert units.factor("my", "uT", "uT") == 1.0


def test_defaults_are_the_contract_before_units_were_declared() -> None:
    assert units.default_units(CHANNELS) == ("m/s^2",) * 3 + ("rad/s",) * 3 + ("uT",) * 3


def test_a_mapping_overrides_only_the_channels_it_names() -> None:
    parsed = units.parse_units({"gx": "deg/s", "gz": "deg/s"}, CHANNELS, units.default_units(CHANNELS), "input.client_units")
    assert parsed[3:6] == ("deg/s", "rad/s", "deg/s")
    assert parsed[:3] == ("m/s^2",) * 3


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"gx": "dps"}, "input.units.gx: unknown unit 'dps'; valid units for gx (angular rate): rad/s, deg/s"),
        ({"gx": "m/s^2"}, "input.units.gx: 'm/s^2' is acceleration, not angular rate; valid units for gx (angular rate): rad/s"),
        ({"ax": "gauss"}, "input.units.ax: 'gauss' is magnetic field, not acceleration; valid units for ax (acceleration): m/s^2, g, mg"),
        ({"qx": "g"}, "input.units: unknown channel(s) qx; channels: ax, ay"),
        (["deg/s"], "input.units must be a mapping of channel to unit"),
    ],
)
def test_errors_name_the_channel_and_the_valid_choices(raw: object, message: str) -> None:
    with pytest.raises(PipelineError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace("^", r"\^")):
        units.parse_units(raw, CHANNELS, units.default_units(CHANNELS), "input.units")
