"""Test double of HailoRT's compiled extension `hailo_platform.pyhailort._pyhailort`, in Python: a binding whose
NumPy layer is right under NumPy 1 and 2 alike, as one built with pybind11 >= 2.12 is. tests/support/doubles/pyhailort_ext
builds the same names in C++ with HailoRT's pybind11 2.10.1, for the tests that need the NumPy-2 trap for real.

Names and behaviour from hailort v4.23.0 bindings/python/src/pyhailort.cpp (get_status_message,
convert_nms_with_byte_mask_buffer_to_detections, DetectionWithByteMask.mask()), infer_model_api.cpp (an InferStream
binding keeps MemoryView(buffer.mutable_data(), buffer.nbytes())) and include/hailo/hailort.h (status codes; the
packed hailo_detection_with_byte_mask_t: box 4 x float32, score float32, class_id uint16, mask_size size_t,
mask uint8_t*)."""

from __future__ import annotations

import ctypes
import struct
from typing import Any

import numpy as np

_STATUS = {
    0: "HAILO_SUCCESS",
    2: "HAILO_INVALID_ARGUMENT",
    4: "HAILO_TIMEOUT",
    6: "HAILO_INVALID_OPERATION",
    13: "HAILO_OPEN_FILE_FAILURE",
    16: "HAILO_UNSUPPORTED_FW_VERSION",
    26: "HAILO_INVALID_HEF",
    61: "HAILO_NOT_FOUND",
    71: "HAILO_OUT_OF_FW_MEMORY",
    74: "HAILO_OUT_OF_PHYSICAL_DEVICES",
    76: "HAILO_INVALID_DRIVER_VERSION",
    91: "HAILO_HEF_FILE_CORRUPTED",
    92: "HAILO_HEF_NOT_SUPPORTED",
    93: "HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE",
}
_DETECTION = struct.Struct("<4ffHQQ")  # packed hailo_detection_with_byte_mask_t


class HailoRTStatusException(Exception):  # noqa: N818 - HailoRT's own name; args[0] is the status, as a string
    pass


def get_status_message(status: int) -> str:
    """The status's name, "" for no status (hailo_get_status_message returns NULL)."""
    return _STATUS.get(status, "")


class DetectionWithByteMask:
    def __init__(self, fields: tuple[Any, ...]) -> None:
        *self.box, self.score, self.class_id, self.mask_size, self._mask = fields

    def mask(self) -> np.ndarray:
        """A new uint8 array of mask_size bytes copied from the detection's mask pointer."""
        return np.frombuffer(ctypes.string_at(self._mask, self.mask_size), np.uint8).copy()


def convert_nms_with_byte_mask_buffer_to_detections(src_buffer: np.ndarray) -> list[DetectionWithByteMask]:
    raw = np.ascontiguousarray(src_buffer).view(np.uint8).tobytes()
    (count,) = struct.unpack_from("<H", raw)
    detections, offset = [], 2
    for _ in range(count):
        detection = DetectionWithByteMask(_DETECTION.unpack_from(raw, offset))
        detections.append(detection)
        offset += _DETECTION.size + detection.mask_size
    return detections


class ConfiguredInferModelBindingsInferStreamWrapper:
    """The view HailoRT reads an input from and writes an output to."""

    def __init__(self) -> None:
        self._bytes = memoryview(b"")

    def set_buffer(self, buffer: np.ndarray) -> None:
        self._bytes = memoryview(buffer).cast("B")

    def size(self) -> int:
        return self._bytes.nbytes

    def read(self) -> bytes:
        return self._bytes.tobytes()

    def write(self, data: bytes) -> None:
        self._bytes[: len(data)] = data
