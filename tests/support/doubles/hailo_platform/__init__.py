"""Test double of HailoRT's Python package `hailo_platform` (tests only, never shipped), laid out as the real one
(hailort v4.23.0 hailort/libhailort/bindings/python/platform/hailo_platform/): this file re-exports the API from
pyhailort/pyhailort.py, which wraps the compiled extension pyhailort/_pyhailort."""

import hailo_platform.pyhailort._pyhailort as _pyhailort  # noqa: F401
from hailo_platform.pyhailort.pyhailort import (  # noqa: F401
    CALLS,
    HEF,
    ConfiguredInferModel,
    Device,
    ExceptionWrapper,
    FormatType,
    HailoRTException,
    HailoRTInvalidHEFException,
    HailoRTInvalidOperationException,
    HailoRTTimeout,
    HailoSchedulingAlgorithm,
    InferModel,
    VDevice,
)

__version__ = "4.23.0"
