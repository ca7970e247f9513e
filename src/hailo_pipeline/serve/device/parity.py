"""Live parity, in the device process: with the Hailo backend, one window in PARITY_SAMPLE_EVERY is run again on
the bundle's ONNX on the CPU, and the cosine between the accelerator's output and the FP32 one is reported
against the bundle's quantization gate (the threshold its golden check uses on the accelerator).

Off the hot path: the window and the device's output are copied into a bounded queue, and a thread of their own
runs the CPU model (ONNX Runtime, one thread, releasing the interpreter lock while it runs). When the queue is
full the sample is dropped, never waited for: parity is a sample, the answer is not.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.model.parity import compare
from hailo_pipeline.serve.device.backends import OnnxRuntimeBackend
from hailo_pipeline.serve.device.engine import Engine

QUEUE_LIMIT = 8  # samples waiting for the CPU at most

Report = Callable[[int, float, float], None]  # engine key, cosine, the gate's threshold


@dataclass(frozen=True)
class _Sample:
    key: int
    engine: Engine
    window: NDArray[np.float32]
    device_output: NDArray[np.float32]


class ParityWatch:
    def __init__(self, report: Report) -> None:
        self.report = report
        self.samples: queue.Queue[_Sample] = queue.Queue(maxsize=QUEUE_LIMIT)
        self.every: dict[int, int] = {}  # engine key -> sample one window in this many
        self.seen: dict[int, int] = {}
        self.references: dict[int, OnnxRuntimeBackend] = {}  # the parity thread's own CPU models
        self.lock = threading.Lock()
        threading.Thread(target=self._run, name="parity", daemon=True).start()

    def watch(self, key: int, engine: Engine, every: int) -> None:
        """Samples `engine`'s windows when it runs on the accelerator and every > 0."""
        if engine.backend.name == "hailo" and every > 0:
            self.every[key], self.seen[key] = every, 0

    def forget(self, key: int) -> None:
        self.every.pop(key, None)
        self.seen.pop(key, None)
        with self.lock:
            self.references.pop(key, None)

    def offer(self, key: int, engine: Engine, window: NDArray[np.float32], device_output: NDArray[np.float32]) -> None:
        """Called after each window the device ran; keeps a copy of one in `every`, if there is room."""
        every = self.every.get(key)
        if every is None:
            return
        self.seen[key] += 1
        if self.seen[key] % every:
            return
        with contextlib.suppress(queue.Full):  # dropped: the CPU is still busy with earlier samples
            self.samples.put_nowait(_Sample(key, engine, window.copy(), device_output.copy()))

    def _reference(self, sample: _Sample) -> OnnxRuntimeBackend:
        with self.lock:
            reference = self.references.get(sample.key)
            if reference is None:
                reference = self.references[sample.key] = OnnxRuntimeBackend(sample.engine.release_dir / "model.onnx", threads=1)
            return reference

    def _run(self) -> None:
        while True:
            sample = self.samples.get()
            engine = sample.engine
            try:
                fp32 = self._reference(sample).run((sample.window - engine.mean) / engine.std)
                cosine = compare(fp32[None], sample.device_output[None]).cosine_min
            except Exception as exc:  # a sample that cannot be checked says why, and the answers go on
                print(f"parity: {engine.release}: {type(exc).__name__}: {exc}", flush=True)
                continue
            if sample.key in self.every:  # not unloaded meanwhile
                self.report(sample.key, cosine, engine.quantized_threshold)
