"""The HailoRT backend: the only module that imports `hailo_platform` (HailoRT's Python API).

InferModel API (HailoRT >= 4.18; reference hailo-toolchain.md section 5b): one VDevice per process with
the ROUND_ROBIN scheduler (Python's default is NONE), on which every loaded release configures its own
network group, so a new release loads beside the serving one and the scheduler shares the device; float32
in and out so HailoRT (de)quantizes on the host, bindings created once. The VDevice opens with the first
network group and is released with the last. With HailoRT's multi-process service the VDevice is the
service's SHARED one, and other processes' network groups share the device with ours.
"""

from __future__ import annotations

import importlib
import struct
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.errors import PipelineError


def import_problem() -> str | None:
    """Why HailoRT's binding cannot be used here, or None. Only an import tells: the binding's _pyhailort links
    libhailort.so.<version> from the `hailort` .deb, so a binding without it is found (find_spec) but does not
    load (ImportError, or OSError from the loader)."""
    try:
        import hailo_platform  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"import hailo_platform failed ({type(exc).__name__}: {exc})"
    return None


def hailort_version() -> str | None:
    if import_problem() is not None:
        return None
    import hailo_platform

    return str(getattr(hailo_platform, "__version__", "unknown"))


# hailort.h's hailo_detection_with_byte_mask_t (packed): box (4 x float32), score, class_id, mask_size, mask pointer.
_DETECTION_WITH_BYTE_MASK = struct.Struct("<4ffHQQ")


def buffer_problem() -> str | None:
    """Why the binding cannot be trusted with buffers under this Python's NumPy, or None. pybind11 before 2.12 (what
    HailoRT pins up to 5.1.0) reads NumPy 1's dtype layout: under NumPy 2 an array it builds from a dtype and a
    pointer repeats element 0 and the arrays it is handed count 0 bytes, so InferModel's set_buffer hands HailoRT
    empty buffers (hailo-toolchain.md section 11). Needs no device: the array the binding builds for a
    segmentation detection (hailort v4.23.0 bindings/python/src/pyhailort.cpp,
    convert_nms_with_byte_mask_buffer_to_detections and DetectionWithByteMask.mask()) over 16 bytes 1..16 must
    read back 1..16."""
    _pyhailort = importlib.import_module("hailo_platform.pyhailort._pyhailort")  # the compiled extension
    if not hasattr(_pyhailort, "convert_nms_with_byte_mask_buffer_to_detections"):
        return (
            f"HailoRT's binding {_pyhailort.__file__} has no convert_nms_with_byte_mask_buffer_to_detections: its buffers cannot be checked"
        )
    mask = np.arange(1, 17, dtype=np.uint8)
    detection = _DETECTION_WITH_BYTE_MASK.pack(0.0, 0.0, 1.0, 1.0, 1.0, 0, mask.size, mask.ctypes.data)
    buffer = np.frombuffer(struct.pack("<H", 1) + detection, np.uint8).copy()
    read = np.asarray(_pyhailort.convert_nms_with_byte_mask_buffer_to_detections(buffer)[0].mask())
    if read.tolist() == mask.tolist():
        return None
    return (
        f"HailoRT's binding reads buffers wrong under numpy {np.__version__}: an array it builds over bytes 1..16 "
        f"(DetectionWithByteMask.mask()) reads back {read.tolist()}; it was built for NumPy 1 (pybind11 < 2.12): "
        "give it numpy<2, or use a binding built with pybind11 >= 2.12"
    )


def hailort_failure(exc: BaseException) -> str:
    """HailoRT's exception as it said it: class and text, and the libhailort status it was raised from."""
    said = f"{type(exc).__name__}: {exc}"
    return f"{said} (from {exc.__cause__!r})" if exc.__cause__ is not None else said


class HailoRTError(PipelineError):
    """HailoRT refused to open the device or load the HEF; the message quotes its exception."""


class DeviceFullError(PipelineError):
    """HailoRT could not configure one more network group beside those already on the VDevice."""


class SharedVDevice:
    """The process's one VDevice: opened by the first network group, released after the last."""

    def __init__(self) -> None:
        self.vdevice: Any = None
        self.groups = 0
        self.lock = threading.Lock()

    def acquire(self, multi_process_service: bool) -> Any:
        """Through hailort_service (`multi_process_service`), in its SHARED group: the service owns the device and
        schedules the network groups of every process that joins it."""
        from hailo_platform import HailoSchedulingAlgorithm, VDevice

        with self.lock:
            if self.vdevice is None:
                params = VDevice.create_params()
                params.scheduling_algorithm = HailoSchedulingAlgorithm.ROUND_ROBIN
                if multi_process_service:
                    params.multi_process_service, params.group_id = True, "SHARED"
                self.vdevice = VDevice(params)
            self.groups += 1
            return self.vdevice

    def release(self) -> None:
        with self.lock:
            self.groups -= 1
            if self.groups == 0:
                self.vdevice.release()
                self.vdevice = None


VDEVICE = SharedVDevice()


class HailoBackend:
    name = "hailo"

    def __init__(self, hef_path: Path, timeout_ms: int, multi_process_service: bool = False, device: SharedVDevice | None = None) -> None:
        from hailo_platform import FormatType, HailoRTException

        device = device or VDEVICE
        self.timeout_ms, self.device = timeout_ms, device
        try:
            vdevice = device.acquire(multi_process_service)
        except HailoRTException as exc:
            raise HailoRTError(f"HailoRT could not open the device: {hailort_failure(exc)}") from exc
        try:
            self.model = vdevice.create_infer_model(str(hef_path))
            self.model.input().set_format_type(FormatType.FLOAT32)
            self.model.output().set_format_type(FormatType.FLOAT32)
            try:
                self.configured = self.model.configure()
            except HailoRTException as exc:
                if device.groups == 1:
                    raise
                # HailoRT's status for "does not fit" varies by resource; beside others, any refusal counts as that
                raise DeviceFullError(
                    f"HailoRT could not configure {hef_path} beside {device.groups - 1} other network group(s): {hailort_failure(exc)}; "
                    "HailoRT gives a released network group's room back only with its VDevice: a restart of the sidecar "
                    "starts one holding only the releases it serves (docs/decisions/hot-model-set.md)"
                ) from exc
            self.bindings = self.configured.create_bindings()
            self.output = np.empty(self.model.output().shape, np.float32)
            self.bindings.output().set_buffer(self.output)
        except HailoRTException as exc:
            device.release()
            raise HailoRTError(f"HailoRT could not load {hef_path}: {hailort_failure(exc)}") from exc
        except Exception:
            device.release()
            raise
        self.input_shape = tuple(self.model.input().shape)

    def run(self, nhwc: NDArray[np.float32]) -> NDArray[np.float32]:
        """One frame (H, W, C) float32 -> the output buffer's values, flattened."""
        self.bindings.input().set_buffer(np.ascontiguousarray(nhwc.reshape(self.input_shape), np.float32))
        self.configured.run([self.bindings], self.timeout_ms)
        return np.array(self.bindings.output().get_buffer(), np.float32).ravel()

    def close(self) -> None:
        self.configured.shutdown()
        self.device.release()

    @property
    def versions(self) -> dict[str, Any]:
        return {"hailort": hailort_version()}


if __name__ == "__main__":  # the sidecar image's build runs this under the image's own NumPy
    problem = import_problem() or buffer_problem()
    sys.exit(f"refused: {problem}" if problem else None)
