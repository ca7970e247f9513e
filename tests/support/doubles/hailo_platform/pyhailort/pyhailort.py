"""Test double of HailoRT's `hailo_platform.pyhailort.pyhailort` (InferModel path; tests only, never shipped).

Documented behaviour it keeps (reference hailo-toolchain.md section 5): VDevice params with a
scheduling algorithm (Python's default NONE), create_infer_model(hef_path), FLOAT32 user format on
each stream so HailoRT quantizes on the host (clip to limvals, round(x / scale + zp)) and dequantizes
outputs ((q - zp) * scale), run(bindings, timeout_ms), shutdown() and release(). The chip's computation is
stood in for by the model.onnx that sits beside the HEF in a release bundle, run with ONNX Runtime, behind the
normalization layer the HEF would contain when its model.alls put one on the chip.

What HailoRT's own source says (hailort v4.23.0, bindings/python/platform/hailo_platform/pyhailort/pyhailort.py,
bindings/python/src/infer_model_api.cpp, libhailort/src/net_flow/pipeline/infer_model.cpp):
- every call into _pyhailort runs inside ExceptionWrapper, which turns the extension's
  `_pyhailort.HailoRTStatusException('<status>')` into HailoRTException or the subclass for that status, raised
  `from` it: `libhailort failed with error: 74 (HAILO_OUT_OF_PHYSICAL_DEVICES)` when no device is there.
- Bindings' set_buffer hands the array to the extension, which keeps a MemoryView(mutable_data(), nbytes()) of
  it; get_buffer returns the array kept in Python. run() checks each view's size against the stream's frame size
  (HAILO_INVALID_OPERATION, "Input buffer size {} is different than expected {} for input '{}'") and HailoRT reads
  and writes through the views: a binding whose NumPy layer misreads nbytes fails here (section 11).
- HEF errors (hailo-toolchain.md section 11): 13 for a missing file, 92 (HAILO_HEF_NOT_SUPPORTED) for an unknown
  header version (read before the magic), 91 (HAILO_HEF_FILE_CORRUPTED) for a truncated one.

Environment, for tests: HAILORT_DOUBLE_DEVICES=0 is a host without a Hailo device (VDevice() fails with 74, as the
real binding does); HAILORT_DOUBLE_LOG names a file each call's name is appended to (CALLS lives in one process
only, the sidecar's device process is forked); HAILORT_DOUBLE_NETWORK_GROUPS caps the network groups a VDevice
holds at once (configure() beyond it fails with HAILO_OUT_OF_FW_MEMORY, as a device whose resources are taken
does); HAILORT_DOUBLE_DRIFT_AFTER=N makes a configured model drift after its first N windows: each output then has
its neighbour's values added, as a device that heats up or a HEF that no longer matches its ONNX would answer;
HAILORT_DOUBLE_TEMPERATURE the chip temperature (°C, default 45).
"""

from __future__ import annotations

import enum
import os
import re
import struct
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo.hef import HEADER_SIZES, MAGIC, Stream, inspect_hef
from hailo_platform.pyhailort import _pyhailort

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


# The real module's exception classes (pyhailort.py), HailoRT's own names.
class HailoRTException(Exception):  # noqa: N818
    pass


class HailoRTTimeout(HailoRTException):
    pass


class HailoRTInvalidOperationException(HailoRTException):
    pass


class HailoRTInvalidArgumentException(HailoRTException):
    pass


class HailoRTNotFoundException(HailoRTException):
    pass


class HailoRTInvalidHEFException(HailoRTException):
    pass


class HailoStatusInvalidValueException(Exception):  # noqa: N818
    pass


# ExceptionWrapper.create_exception_from_status: these statuses get a class and a fixed text of their own, every
# other one HailoRTException("libhailort failed with error: <status> (<name>)").
_INDICATIVE = {
    "HAILO_TIMEOUT": (HailoRTTimeout, "Received a timeout - hailort has failed because a timeout had occurred"),
    "HAILO_INVALID_OPERATION": (HailoRTInvalidOperationException, "Invalid operation. See hailort.log for more information"),
    "HAILO_INVALID_ARGUMENT": (HailoRTInvalidArgumentException, "Invalid argument. See hailort.log for more information"),
    "HAILO_NOT_FOUND": (HailoRTNotFoundException, "Item not found. See hailort.log for more information"),
    "HAILO_INVALID_HEF": (HailoRTInvalidHEFException, "Invalid HEF. See hailort.log for more information"),
}


def get_status_message(status_code: int) -> str:
    name = _pyhailort.get_status_message(status_code)
    if name == "":
        raise HailoStatusInvalidValueException(f"Value {status_code} is not a valid status")
    return str(name)


class ExceptionWrapper:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if value is not None and kind is _pyhailort.HailoRTStatusException:
            raise self.create_exception_from_status(int(value.args[0])) from value

    @staticmethod
    def create_exception_from_status(error_code: int) -> HailoRTException:
        name = get_status_message(error_code)
        if name in _INDICATIVE:
            cls, text = _INDICATIVE[name]
            return cls(text)
        return HailoRTException(f"libhailort failed with error: {error_code} ({name})")


def _fail(status: int, log: str) -> None:
    """What libhailort does on a failed CHECK: logs the reason, returns the status the extension raises."""
    print(f"[HailoRT] [error] CHECK failed - {log}", file=sys.stderr)
    raise _pyhailort.HailoRTStatusException(str(status))


class _Temperature:
    def __init__(self, celsius: float) -> None:
        self.ts0_temperature = self.ts1_temperature = celsius


class _Control:
    def get_chip_temperature(self) -> _Temperature:
        return _Temperature(float(os.environ.get("HAILORT_DOUBLE_TEMPERATURE", "45")))


def _devices() -> int:
    return int(os.environ.get("HAILORT_DOUBLE_DEVICES", "1"))


class Device:
    """hailo_platform.Device, for its control channel's chip temperature only. Without a device it fails with status
    74 as VDevice() does (what the real Device() says then was not seen)."""

    def __init__(self) -> None:
        with ExceptionWrapper():
            if _devices() == 0:
                _fail(74, "no Hailo device to open")
        self.control = _Control()


class _Params:
    def __init__(self) -> None:
        self.scheduling_algorithm = HailoSchedulingAlgorithm.NONE
        self.group_id = "UNIQUE"
        self.multi_process_service = False


class HEF:
    """A HEF as HailoRT opens it (its errors); what it holds is read by the product's own reader."""

    def __init__(self, hef_source: str) -> None:
        with ExceptionWrapper():
            path = Path(hef_source)
            if not path.is_file():
                _fail(13, f'Failed to open HEF file "{hef_source}". errno: 2')
            data = path.read_bytes()
            if len(data) < 12:
                _fail(91, f"HEF file length does not match: {len(data)} bytes")
            magic, version, proto_size = struct.unpack(">III", data[:12])
            if version not in HEADER_SIZES:
                _fail(92, f"Unsupported hef version {version}")
            if magic != MAGIC:
                _fail(26, f"HEF magic does not match. detected magic - {magic:x}")
            if len(data) < HEADER_SIZES[version] + proto_size:
                _fail(91, "HEF file length does not match")
            try:
                self.group = inspect_hef(path).network_groups[0]
            except PipelineError as exc:
                _fail(26, str(exc))


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
        with ExceptionWrapper():
            if _devices() == 0:
                _fail(74, "Failed to create vdevice. there are not enough free devices. requested: 1, found: 0")
        self.released = False
        self.configured = 0

    def create_infer_model(self, hef_source: str) -> InferModel:
        _record(("create_infer_model", {"hef": hef_source}))
        return InferModel(HEF(hef_source), Path(hef_source), self)

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

    @property
    def frame_size(self) -> int:
        item = {FormatType.FLOAT32: 4, FormatType.UINT16: 2}.get(self.format_type, 1)
        return int(np.prod(self.shape)) * item


class InferModel:
    def __init__(self, hef: HEF, hef_path: Path, vdevice: VDevice) -> None:
        import onnxruntime as ort  # only a configured model computes; `import hailo_platform` needs NumPy alone

        self.vdevice = vdevice
        self._input, self._output = _StreamInfo(hef.group.inputs[0]), _StreamInfo(hef.group.outputs[0])
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
        with ExceptionWrapper():
            if cap and self.vdevice.configured >= int(cap):
                _fail(71, f"Failed to configure network group: the device holds {cap} network group(s) at once")
        self.vdevice.configured += 1
        return ConfiguredInferModel(self)


class _Buffer:
    """ConfiguredInferModel.Bindings.InferStream: the extension keeps a view of the array, Python the array."""

    def __init__(self, info: _StreamInfo) -> None:
        self.info = info
        self._view = _pyhailort.ConfiguredInferModelBindingsInferStreamWrapper()
        self._buffer: np.ndarray | None = None

    def set_buffer(self, buffer: np.ndarray) -> None:
        with ExceptionWrapper():
            self._view.set_buffer(buffer)
        self._buffer = buffer

    def get_buffer(self) -> np.ndarray | None:
        return self._buffer

    def checked_view(self, direction: str) -> Any:
        if self._view.size() != self.info.frame_size:
            _fail(
                6,
                f"{direction} buffer size {self._view.size()} is different than expected {self.info.frame_size} "
                f"for {direction.lower()} '{self.info.name}'",
            )
        return self._view


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
        with ExceptionWrapper():
            if self.shut_down:
                _fail(6, "run after shutdown")
            for b in bindings:
                if self.model.input().format_type is not FormatType.FLOAT32:
                    raise NotImplementedError("this double models FLOAT32 user buffers only")
                source, target = b.input().checked_view("Input"), b.output().checked_view("Output")
                frame = np.frombuffer(source.read(), np.float32).reshape(self.model.input().shape)
                x = _quantize_round_trip(frame, self.model.input().stream)
                if self.model.on_chip is not None:
                    x = (x - self.model.on_chip[0]) / self.model.on_chip[1]
                session = self.model.session
                y = session.run(None, {session.get_inputs()[0].name: x.transpose(2, 0, 1)[None]})[0]
                self.windows += 1
                if 0 <= self.drift_after < self.windows:
                    y = y + np.roll(y, 1)
                target.write(_quantize_round_trip(y, self.model.output().stream).astype(np.float32).tobytes())

    def shutdown(self) -> None:
        _record(("shutdown", {}))
        self.shut_down = True
        self.model.vdevice.configured -= 1
