"""The DFC model script (.alls) of a build, rendered with Jinja2 from the build's DFC options."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.resources import files
from typing import Any, Protocol

import jinja2

_TEMPLATE = "model_script.alls.j2"


class ScriptOptions(Protocol):
    """What the template reads: the spec's dfc section (build.spec.DfcSpec) has these fields."""

    @property
    def normalization_on_chip(self) -> bool: ...
    @property
    def optimization_level(self) -> int: ...
    @property
    def compression_level(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def calibset_size(self) -> int: ...
    @property
    def performance(self) -> bool: ...
    @property
    def quantization_overrides(self) -> Sequence[Any]: ...


def quantization_line(layer: str, precision_mode: str) -> str:
    """The model-script line that sets one layer's precision (the template writes these; so does the INT8 advice)."""
    return f"quantization_param({layer}, precision_mode={precision_mode})"


def render(
    dfc: ScriptOptions, mean: Sequence[float], std: Sequence[float], calibration_windows: int, layer_name: Callable[[str], str] = str
) -> str:
    """layer_name: how the network calls a layer the spec names (hailo.dfc_runner.hailo_layer_names, once parsed)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    template = env.from_string((files("hailo_pipeline.hailo") / "templates" / _TEMPLATE).read_text(encoding="utf-8"))
    return template.render(
        normalization_on_chip=dfc.normalization_on_chip,
        mean=list(mean),
        std=list(std),
        optimization_level=dfc.optimization_level,
        compression_level=dfc.compression_level,
        batch_size=dfc.batch_size,
        calibset_size=min(dfc.calibset_size or calibration_windows, calibration_windows),
        quantization_lines=[quantization_line(layer_name(o.layer), o.precision_mode) for o in dfc.quantization_overrides],
        performance=dfc.performance,
    )
