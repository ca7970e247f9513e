"""INT8 preview without the DFC: ONNX Runtime static quantization (QDQ) of the same graph, measured like
the Hailo gate. Closer to the Hailo scheme than ORT's defaults: activations uint8 with a zero point
(asymmetric MinMax), weights int8 per channel, calibrated on the build's calibration windows.

Per-channel QDQ needs opset 13, so the preview quantizes an opset-13 copy of the graph; the graph for
Hailo stays at opset 11. The calibration runs once: its ranges are cached, and every later run (the
advisor's, builder/quant_advisor.py) only requantizes. Layers asked to stay at 16 bits get ORT's 16-bit QDQ
(activations uint16, weights int16), a stand-in for the DFC's a16_w16. It is NOT the Hailo quantizer: it shows
quantization risk before anyone buys GPU time, and is recorded as a preview, never as a gate.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

from hailo_pipeline.builder.quant_gate import QuantizedParity, measure
from hailo_pipeline.bundle.heads import Head
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.onnx_model import OnnxModel

LABEL = (
    "ONNX Runtime static quantization (QDQ: activations uint8 with a zero point, weights int8 per channel, MinMax "
    "over the calibration windows): a preview, not the Hailo quantizer"
)
SIXTEEN_BIT = "ONNX Runtime 16-bit QDQ (activations uint16, weights int16), a stand-in for the DFC's a16_w16"
CALIBRATION_WINDOWS = 256  # MinMax ranges settle long before 1024 windows; keeps the build fast
_WEIGHTED = {"Conv", "Gemm", "MatMul", "ConvTranspose"}
# Ops the Hailo parser fuses into the layer before them (activation, padding of the next conv's input).
_FUSED = {"Relu", "Clip", "LeakyRelu", "Pad"}


@dataclass(frozen=True)
class Layer:
    """One unit a DFC precision_mode applies to: a node of model.onnx that computes (Conv, Gemm, Add, a pool)
    and the single-consumer activation and padding nodes after it, which the Hailo parser fuses into it."""

    name: str  # the leading node's name in model.onnx
    op_type: str
    tensors: tuple[str, ...]  # the activations it produces
    weights: tuple[str, ...]  # its initializers that are weights (not biases)


def layers(model: onnx.ModelProto) -> list[Layer]:
    """model.onnx's layers in graph order; nodes that only pad or reshape the network input are not layers."""
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    found: list[Layer] = []
    owner: dict[str, int] = {}  # tensor -> index into found
    for node in graph.node:
        source = node.input[0] if node.input else ""
        if node.op_type in _FUSED and source in owner and consumers.get(source) == 1:
            i = owner[source]
            found[i] = Layer(found[i].name, found[i].op_type, (*found[i].tensors, *node.output), found[i].weights)
            owner.update(dict.fromkeys(node.output, i))
        elif node.op_type not in _FUSED:
            weights = tuple(node.input[1:2]) if node.op_type in _WEIGHTED and len(node.input) > 1 and node.input[1] in initializers else ()
            owner.update(dict.fromkeys(node.output, len(found)))
            found.append(Layer(node.name, node.op_type, tuple(node.output), weights))
    return found


class _Windows(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no type hints
    def __init__(self, name: str, windows: NDArray[np.float32]) -> None:
        self.items = iter([{name: w[None]} for w in windows])

    def get_next(self) -> dict[str, NDArray[np.float32]] | None:
        return next(self.items, None)


@contextmanager
def _quiet() -> Iterator[None]:
    """The quantizer logs generic advice (pre-process the model) at WARNING on every run."""
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR
    try:
        yield
    finally:
        root.setLevel(level)


class Preview:
    """One model's preview: calibrate once, then quantize with any set of layers kept at 16 bits. Its files (the
    opset-13 copy, the calibration cache, the last quantized graph) go to `work`, a folder the caller owns."""

    def __init__(
        self,
        onnx_bytes: bytes,
        calibration: NDArray[np.float32],
        holdout: NDArray[np.float32],
        fp_outputs: NDArray[Any],
        head: Head,
        threshold: float,
        work: Path,
    ) -> None:
        """calibration and holdout are model inputs (NCHW, normalized); fp_outputs the FP32 outputs on holdout."""
        self.layers = layers(onnx.load_from_string(onnx_bytes))
        self.holdout, self.fp_outputs, self.head, self.threshold = holdout, fp_outputs, head, threshold
        self.work = work
        self.fp32 = work / "fp32.onnx"
        onnx.save(version_converter.convert_version(onnx.load_from_string(onnx_bytes), 13), self.fp32)
        self.cache = work / "calibration.json"
        step = max(1, len(calibration) // CALIBRATION_WINDOWS)
        self.reader: _Windows | None = _Windows(OnnxModel(onnx_bytes).input_name, calibration[::step])

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise PipelineError(f"model.onnx has no layer {name!r} to keep at 16 bits; its layers: {', '.join(x.name for x in self.layers)}")

    def run(self, sixteen_bit: Sequence[Layer] = ()) -> QuantizedParity:
        overrides = {t: [{"quant_type": QuantType.QUInt16}] for layer in sixteen_bit for t in layer.tensors}
        overrides |= {w: [{"quant_type": QuantType.QInt16}] for layer in sixteen_bit for w in layer.weights}
        dst = self.work / "quantized.onnx"
        with _quiet():
            quantize_static(
                self.fp32,
                dst,
                self.reader,
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                calibration_cache_path=self.cache,
                extra_options={"TensorQuantOverrides": overrides, "UseQDQContribOps": bool(overrides)},
            )
        self.reader = None  # the ranges are in the cache from here on
        return measure(self.fp_outputs, OnnxModel(dst).run(self.holdout), self.head, self.threshold)
