"""The HailoRT backend: the only module that imports `hailo_platform` (HailoRT's Python API).

InferModel API (HailoRT >= 4.18; reference hailo-toolchain.md section 5b): one VDevice per process with
the ROUND_ROBIN scheduler (Python's default is NONE), on which every loaded release configures its own
network group, so a new release loads beside the serving one and the scheduler shares the device; float32
in and out so HailoRT (de)quantizes on the host, bindings created once. The VDevice opens with the first
network group and is released with the last. With HailoRT's multi-process service the VDevice is the
service's SHARED one, and other processes' network groups share the device with ours.
"""

from __future__ import annotations

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
        from hailo_platform import FormatType

        device = device or VDEVICE
        self.timeout_ms, self.device = timeout_ms, device
        vdevice = device.acquire(multi_process_service)
        try:
            self.model = vdevice.create_infer_model(str(hef_path))
            self.model.input().set_format_type(FormatType.FLOAT32)
            self.model.output().set_format_type(FormatType.FLOAT32)
            try:
                self.configured = self.model.configure()
            except Exception as exc:
                if device.groups == 1:
                    raise
                # HailoRT's status for "does not fit" varies by resource; beside others, any refusal counts as that
                raise DeviceFullError(
                    f"HailoRT could not configure {hef_path} beside {device.groups - 1} other network group(s): {exc}"
                ) from exc
            self.bindings = self.configured.create_bindings()
            self.output = np.empty(self.model.output().shape, np.float32)
            self.bindings.output().set_buffer(self.output)
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
