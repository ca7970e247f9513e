"""Test double of HailoRT's Python API `hailo_platform` (InferModel path; tests only, never shipped).

Documented behaviour it keeps (reference hailo-toolchain.md section 5): VDevice params with a
scheduling algorithm (Python's default NONE), create_infer_model(hef_path), FLOAT32 user format on
each stream so HailoRT quantizes on the host (clip to limvals, round(x / scale + zp)) and dequantizes
outputs ((q - zp) * scale), bindings whose buffers must be C-contiguous and exactly shaped, run(bindings,
timeout_ms), shutdown() and release(). The chip's computation is stood in for by the model.onnx that
sits beside the HEF in a release bundle, run with ONNX Runtime, behind the normalization layer the
HEF would contain when its model.alls put one on the chip.

For the sidecar's forked device process: HAILORT_DOUBLE_LOG names a file each call's name is appended to
(CALLS lives in one process only), and HAILORT_DOUBLE_NETWORK_GROUPS caps the network groups a VDevice
holds at once (configure() beyond it raises, as a device whose resources are taken does).
HAILORT_DOUBLE_DRIFT_AFTER=N makes a configured model drift after its first N windows: each output then has its
neighbour's values added, as a device that heats up or a HEF that no longer matches its ONNX would answer.
"""

from __future__ import annotations

import enum
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from hailo_pipeline.hailo.hef import Stream, inspect_hef

__version__ = "4.23.0"
CALLS: list[tuple[str, dict[str, Any]]] = []


def _record(call: tuple[str, dict[str, Any]]) -> None:
    CALLS.append(call)
    if log := os.environ.get("HAILORT_DOUBLE_LOG"):
        with open(log, "a") as f:
            f.write(call[0] + "\n")


class HailoSchedulingAlgorithm(enum.Enum):
    NONE = 0
    ROUND_ROBIN = 1


class FormatType(enum.Enum):
    AUTO = 0
    UINT8 = 1
    UINT16 = 2
    FLOAT32 = 3


class HailoRTException(Exception):  # noqa: N818 - HailoRT's own name
    pass


class _Temperature:
    def __init__(self, celsius: float) -> None:
        self.ts0_temperature = self.ts1_temperature = celsius


class _Control:
    def get_chip_temperature(self) -> _Temperature:
        """HAILORT_DOUBLE_TEMPERATURE (°C, default 45)."""
        return _Temperature(float(os.environ.get("HAILORT_DOUBLE_TEMPERATURE", "45")))


class Device:
    """hailo_platform.Device, for its control channel's chip temperature only."""

    def __init__(self) -> None:
        self.control = _Control()


class _Params:
    def __init__(self) -> None:
        self.scheduling_algorithm = HailoSchedulingAlgorithm.NONE
        self.group_id = "UNIQUE"
        self.multi_process_service = False


class VDevice:
    @staticmethod
    def create_params() -> _Params:
        return _Params()

    def __init__(self, params: _Params | None = None) -> None:
        params = params or _Params()
        _record(
            (
                "VDevice",
                {
                    "scheduling_algorithm": params.scheduling_algorithm,
                    "multi_process_service": params.multi_process_service,
                    "group_id": params.group_id,
                },
            )
        )
        self.released = False
        self.configured = 0

    def create_infer_model(self, hef_source: str) -> InferModel:
        _record(("create_infer_model", {"hef": hef_source}))
        return InferModel(Path(hef_source), self)

    def release(self) -> None:
        _record(("VDevice.release", {}))
        self.released = True


class _StreamInfo:
    def __init__(self, stream: Stream) -> None:
        self.name, self.stream = stream.name, stream
        self.shape = (stream.shape[2],) if stream.format == "NC" else stream.shape
        self.format_type = FormatType.AUTO

    def set_format_type(self, format_type: FormatType) -> None:
        _record(("set_format_type", {"stream": self.name, "type": format_type}))
        self.format_type = format_type


class InferModel:
    def __init__(self, hef_path: Path, vdevice: VDevice) -> None:
        self.vdevice = vdevice
        group = inspect_hef(hef_path).network_groups[0]
        self._input, self._output = _StreamInfo(group.inputs[0]), _StreamInfo(group.outputs[0])
        self.session = ort.InferenceSession(str(hef_path.parent / "model.onnx"), providers=["CPUExecutionProvider"])
        script = hef_path.parent / "model.alls"
        found = re.search(r"normalization\(\[([^\]]*)\],\s*\[([^\]]*)\]\)", script.read_text()) if script.is_file() else None
        self.on_chip = tuple(np.array([float(v) for v in g.split(",")], np.float32) for g in found.groups()) if found else None

    def input(self, name: str = "") -> _StreamInfo:
        return self._input

    def output(self, name: str = "") -> _StreamInfo:
        return self._output

    def configure(self) -> ConfiguredInferModel:
        _record(("configure", {}))
        cap = os.environ.get("HAILORT_DOUBLE_NETWORK_GROUPS")
        if cap and self.vdevice.configured >= int(cap):
            raise HailoRTException(f"configure failed: this device holds {cap} network group(s) at once")
        self.vdevice.configured += 1
        return ConfiguredInferModel(self)


class _Buffer:
    def __init__(self, info: _StreamInfo) -> None:
        self.info = info
        self.array: np.ndarray | None = None

    def set_buffer(self, array: np.ndarray) -> None:
        if not array.flags["C_CONTIGUOUS"] or tuple(array.shape) != tuple(self.info.shape) or array.dtype != np.float32:
            raise HailoRTException(
                f"buffer for {self.info.name} must be C-contiguous float32 {self.info.shape}, got {array.dtype} {array.shape}"
            )
        self.array = array

    def get_buffer(self) -> np.ndarray:
        assert self.array is not None
        return self.array


class _Bindings:
    def __init__(self, model: InferModel) -> None:
        self._in, self._out = _Buffer(model.input()), _Buffer(model.output())

    def input(self, name: str = "") -> _Buffer:
        return self._in

    def output(self, name: str = "") -> _Buffer:
        return self._out


def _quantize_round_trip(x: np.ndarray, stream: Stream) -> np.ndarray:
    q = np.round(np.clip(x, *stream.limvals) / stream.qp_scale + stream.qp_zp)
    return ((q - stream.qp_zp) * stream.qp_scale).astype(np.float32)


class ConfiguredInferModel:
    def __init__(self, model: InferModel) -> None:
        self.model, self.shut_down = model, False
        self.windows = 0
        self.drift_after = int(os.environ.get("HAILORT_DOUBLE_DRIFT_AFTER", "-1"))

    def create_bindings(self) -> _Bindings:
        return _Bindings(self.model)

    def run(self, bindings: list[_Bindings], timeout_ms: int) -> None:
        if self.shut_down:
            raise HailoRTException("run after shutdown")
        for b in bindings:
            if self.model.input().format_type is not FormatType.FLOAT32:
                raise HailoRTException("this double models FLOAT32 user buffers only")
            x = _quantize_round_trip(b.input().get_buffer(), self.model.input().stream)
            if self.model.on_chip is not None:
                x = (x - self.model.on_chip[0]) / self.model.on_chip[1]
            session = self.model.session
            y = session.run(None, {session.get_inputs()[0].name: x.transpose(2, 0, 1)[None]})[0]
            self.windows += 1
            if 0 <= self.drift_after < self.windows:
                y = y + np.roll(y, 1)
            b.output().get_buffer()[...] = _quantize_round_trip(y, self.model.output().stream).reshape(b.output().info.shape)

    def shutdown(self) -> None:
        _record(("shutdown", {}))
        self.shut_down = True
        self.model.vdevice.configured -= 1
