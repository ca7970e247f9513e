"""Which layers to keep at 16 bits when the INT8 preview fails its gate, as ready model-script lines.

Sensitivity: each layer of model.onnx is quantized to 8 bits alone, every other layer at 16 bits
(int8_preview.SIXTEEN_BIT); the error that causes in each gated output (the latent and the motif scores, or the
FSQ values and the class probabilities) is that layer's. Layers are ranked by their worst window's cosine.

Advice, when the preview fails: greedy over the most sensitive CANDIDATES layers. Each step adds the layer whose
16 bits lift the preview's worst cosine most, until the preview passes or no layer lifts it. The layers are
model.onnx node names; the build resolves each to its Hailo layer (the parsed HN layer whose original_names hold
it) when it writes model.alls (hailo/dfc.py), so the same advice serves a spec's dfc.quantization_overrides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hailo_pipeline.builder.int8_preview import SIXTEEN_BIT, Layer, Preview
from hailo_pipeline.builder.quant_gate import QuantizedParity
from hailo_pipeline.hailo.model_script import quantization_line

PRECISION_MODE = "a16_w16"
CANDIDATES = 6  # the greedy search looks at this many of the most sensitive layers


def _worst(result: QuantizedParity) -> float:
    return min(p.cosine_min for p in result.results.values())


def sensitivity(preview: Preview, kept: Sequence[Layer] = ()) -> list[dict[str, Any]]:
    """Each layer's own error (8 bits alone, the rest at 16), most sensitive first; `kept` stay at 16 bits."""
    rows = []
    for layer in preview.layers:
        if layer in kept:
            continue
        alone = preview.run([other for other in preview.layers if other != layer])
        rows.append(
            {
                "layer": layer.name,
                "op_type": layer.op_type,
                "cosine_min": _worst(alone),
                "errors": {name: {"cosine_min": p.cosine_min, "max_abs": p.max_abs} for name, p in alone.results.items()},
            }
        )
    return sorted(rows, key=lambda row: row["cosine_min"])


def advise(preview: Preview, baseline: QuantizedParity, kept: Sequence[Layer] = ()) -> tuple[dict[str, Any], QuantizedParity]:
    """The advice for release.json (gates.int8_preview.advice), and the preview with it. baseline: the preview
    with `kept` at 16 bits."""
    per_layer = sensitivity(preview, kept)
    chosen: list[Layer] = []
    after = baseline
    candidates = [preview.layer(row["layer"]) for row in per_layer[:CANDIDATES]]
    while not after.passed and candidates:
        trials = [(preview.run([*kept, *chosen, layer]), layer) for layer in candidates]
        best, layer = max(trials, key=lambda trial: _worst(trial[0]))
        if _worst(best) <= _worst(after):
            break
        chosen.append(layer)
        candidates.remove(layer)
        after = best
    device_output = preview.head.device_output
    advice = {
        "layers": [layer.name for layer in chosen],
        "alls": [quantization_line(layer.name, PRECISION_MODE) for layer in chosen],
        "passed_after": after.passed,
        f"{device_output}_cosine_min_after": after.results[device_output].cosine_min,
        "after": after.as_dict(),
        "sixteen_bit": SIXTEEN_BIT,
        "names": "model.onnx node names: the build writes each as its Hailo layer into model.alls",
        "applied": False,  # build --apply-advice puts the layers into this build's model script
        "per_layer": per_layer,
    }
    return advice, after
