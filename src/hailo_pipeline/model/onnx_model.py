"""Running an ONNX graph with ONNX Runtime on the CPU, one window at a time (static batch 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from hailo_pipeline.errors import PipelineError


class OnnxModel:
    def __init__(self, model: bytes | Path, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        source = str(model) if isinstance(model, Path) else model
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise PipelineError(f"ONNX Runtime cannot load the model: {str(exc).splitlines()[0]}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise PipelineError(f"the model must have exactly one input, it has {len(inputs)}")
        self.input_name = inputs[0].name
        self.input_shape = tuple(inputs[0].shape)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, batch: NDArray[Any]) -> NDArray[np.float32]:
        """Runs each (1, ...) slice of `batch` (N, ...) and stacks the first output: (N, ...)."""
        outputs = [
            self.session.run(self.output_names[:1], {self.input_name: np.ascontiguousarray(x[None], np.float32)})[0][0] for x in batch
        ]
        return np.stack(outputs).astype(np.float32)
