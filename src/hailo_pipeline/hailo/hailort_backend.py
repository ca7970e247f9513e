"""The HailoRT backend: the only module that imports `hailo_platform` (HailoRT's Python API).

InferModel API (HailoRT >= 4.18; reference hailo-toolchain.md section 5b): one VDevice with the
ROUND_ROBIN scheduler (Python's default is NONE), float32 in and out so HailoRT (de)quantizes on the
host, bindings created once, the device opened once and released on close().
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


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


class HailoBackend:
    name = "hailo"

    def __init__(self, hef_path: Path, timeout_ms: int) -> None:
        from hailo_platform import FormatType, HailoSchedulingAlgorithm, VDevice

        params = VDevice.create_params()
        params.scheduling_algorithm = HailoSchedulingAlgorithm.ROUND_ROBIN
        self.timeout_ms = timeout_ms
        self.vdevice = VDevice(params)
        try:
            self.model = self.vdevice.create_infer_model(str(hef_path))
            self.model.input().set_format_type(FormatType.FLOAT32)
            self.model.output().set_format_type(FormatType.FLOAT32)
            self.configured = self.model.configure()
            self.bindings = self.configured.create_bindings()
            self.output = np.empty(self.model.output().shape, np.float32)
            self.bindings.output().set_buffer(self.output)
        except Exception:
            self.vdevice.release()
            raise
        self.input_shape = tuple(self.model.input().shape)

    def run(self, nhwc: NDArray[np.float32]) -> NDArray[np.float32]:
        """One frame (H, W, C) float32 -> the output buffer's values, flattened."""
        self.bindings.input().set_buffer(np.ascontiguousarray(nhwc.reshape(self.input_shape), np.float32))
        self.configured.run([self.bindings], self.timeout_ms)
        return np.array(self.bindings.output().get_buffer(), np.float32).ravel()

    def close(self) -> None:
        self.configured.shutdown()
        self.vdevice.release()

    @property
    def versions(self) -> dict[str, Any]:
        return {"hailort": hailort_version()}
