"""INT8 preview without the DFC: ONNX Runtime static quantization (QDQ, per-channel weights, MinMax over
the calibration windows) of the same graph, measured like the Hailo gate.

Per-channel QDQ needs opset 13, so the preview quantizes an opset-13 copy of the graph; the graph for
Hailo stays at opset 11. It is NOT the Hailo quantizer: it shows quantization risk before anyone buys GPU time, and is recorded
as a preview, never as a gate.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

from hailo_pipeline.build.heads import Head
from hailo_pipeline.build.quant_gate import QuantizedParity, measure
from hailo_pipeline.model.onnx_model import OnnxModel

LABEL = "ONNX Runtime static INT8 (QDQ, per-channel weights, MinMax): a preview, not the Hailo quantizer"
CALIBRATION_WINDOWS = 256  # MinMax ranges settle long before 1024 windows; keeps the build fast


class _Windows(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no type hints
    def __init__(self, name: str, windows: NDArray[np.float32]) -> None:
        self.items = iter([{name: w[None]} for w in windows])

    def get_next(self) -> dict[str, NDArray[np.float32]] | None:
        return next(self.items, None)


def preview(
    onnx_bytes: bytes,
    calibration: NDArray[np.float32],
    holdout: NDArray[np.float32],
    fp_outputs: NDArray[Any],
    head: Head,
    threshold: float,
) -> QuantizedParity:
    """calibration and holdout are model inputs (NCHW, normalized); fp_outputs the FP32 outputs on holdout."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(version_converter.convert_version(onnx.load_from_string(onnx_bytes), 13), src)
        name = OnnxModel(onnx_bytes).input_name
        step = max(1, len(calibration) // CALIBRATION_WINDOWS)
        root = logging.getLogger()
        level, root.level = root.level, logging.ERROR  # the quantizer's generic advice to pre-process
        try:
            quantize_static(
                src,
                dst,
                _Windows(name, calibration[::step]),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
        finally:
            root.setLevel(level)
        quantized = OnnxModel(dst).run(holdout)
    return measure(fp_outputs, quantized, head, threshold)
