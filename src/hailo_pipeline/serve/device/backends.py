"""Inference backends and the choice between them. A backend runs one window (H, T, 9), already in the
units the model expects, and returns its output flattened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo.hailort_backend import import_problem
from hailo_pipeline.model.onnx_model import OnnxModel
from hailo_pipeline.serve.messages import DeviceAccess


class Backend(Protocol):
    name: str

    def run(self, nhwc: NDArray[np.float32]) -> NDArray[np.float32]: ...

    def close(self) -> None: ...

    @property
    def versions(self) -> dict[str, Any]: ...


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, onnx_path: Path, threads: int) -> None:
        self.model = OnnxModel(onnx_path, threads=threads)
        self.feed_name = self.model.input_name
        self.output_names = self.model.output_names[:1]

    def run(self, nhwc: NDArray[np.float32]) -> NDArray[np.float32]:
        nchw = np.ascontiguousarray(nhwc.transpose(2, 0, 1)[None], np.float32)
        return np.asarray(self.model.session.run(self.output_names, {self.feed_name: nchw})[0], np.float32).ravel()

    def close(self) -> None:
        """ONNX Runtime sessions hold no device."""

    @property
    def versions(self) -> dict[str, Any]:
        return {"onnxruntime": ort.__version__}


@dataclass(frozen=True)
class Choice:
    backend: str  # "hailo" | "onnxruntime"
    reason: str


def choose(requested: str, has_hef: bool, access: DeviceAccess) -> Choice:
    """`auto` takes HailoRT when hailo_platform imports, the device (its node, or hailort_service's socket) is
    there and the bundle has a HEF; otherwise ONNX Runtime, with every reason it could not. `hailo` fails with
    the same reasons."""
    if requested == "onnxruntime":
        return Choice("onnxruntime", "HAILO_BACKEND=onnxruntime")
    missing = [
        what
        for what in (
            import_problem(),
            access.problem(),
            None if has_hef else "the bundle has no model.hef",
        )
        if what is not None
    ]
    if requested == "hailo":
        if missing:
            raise PipelineError(f"HAILO_BACKEND=hailo but {'; '.join(missing)}")
        return Choice("hailo", "HAILO_BACKEND=hailo")
    if missing:
        return Choice("onnxruntime", f"auto: onnxruntime because {'; '.join(missing)}")
    return Choice("hailo", "auto: HailoRT, device and HEF present")


def open_backend(choice: Choice, release_dir: Path, threads: int, timeout_ms: int, access: DeviceAccess) -> Backend:
    if choice.backend == "hailo":
        from hailo_pipeline.hailo.hailort_backend import HailoBackend

        return HailoBackend(release_dir / "model.hef", timeout_ms, multi_process_service=access.service)
    return OnnxRuntimeBackend(release_dir / "model.onnx", threads)
