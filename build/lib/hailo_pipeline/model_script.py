"""The DFC model script (.alls) of a build, rendered with Jinja2 from the spec's dfc section."""

from __future__ import annotations

from importlib.resources import files

import jinja2

from hailo_pipeline.spec import ModelSpec

_TEMPLATE = "model_script.alls.j2"


def render(spec: ModelSpec, calibration_windows: int) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    template = env.from_string((files("hailo_pipeline") / "templates" / _TEMPLATE).read_text(encoding="utf-8"))
    dfc = spec.dfc
    return template.render(
        normalization_on_chip=dfc.normalization_on_chip,
        mean=list(spec.normalization.mean),
        std=list(spec.normalization.std),
        optimization_level=dfc.optimization_level,
        compression_level=dfc.compression_level,
        batch_size=dfc.batch_size,
        calibset_size=min(dfc.calibset_size or calibration_windows, calibration_windows),
        quantization_overrides=dfc.quantization_overrides,
        performance=dfc.performance,
    )
