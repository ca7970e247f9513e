"""Test double: the DFC's exposed definitions the adapter uses."""

import enum


class InferenceContext(enum.Enum):
    SDK_NATIVE = "sdk_native"
    SDK_FP_OPTIMIZED = "sdk_fp_optimized"
    SDK_QUANTIZED = "sdk_quantized"
    SDK_HAILO_HW = "sdk_hailo_hw"


class States(enum.Enum):
    HAILO_MODEL = "hailo_model"
    QUANTIZED_MODEL = "quantized_model"
    COMPILED_MODEL = "compiled_model"


SUPPORTED_HW_ARCHS = ["hailo8", "hailo8r", "hailo8l"]
