"""Test helper: a backend whose behaviour a test flips while the sidecar runs.

The engine runs in the sidecar's forked device process, so the mode crosses as a file the test writes:
ok, raise, hang (until the mode changes), sleep:<seconds>, exit (the device process dies).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from hailo_pipeline.serve.device.engine import Engine
from hailo_pipeline.serve.device.process import open_engine
from hailo_pipeline.serve.messages import LoadRequest, OpenEngine


class Faults:
    def __init__(self, folder: Path) -> None:
        self.file = folder / "backend-mode"
        self.set("ok")

    def set(self, mode: str) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(mode)
        tmp.replace(self.file)

    def mode(self) -> str:
        return self.file.read_text()

    def opener(self) -> OpenEngine:
        def open_faulty(request: LoadRequest) -> Engine:
            engine = open_engine(request)
            real = engine.backend.run

            def run(nhwc: np.ndarray) -> np.ndarray:
                mode = self.mode()
                if mode == "raise":
                    raise RuntimeError("HAILO_DRIVER_FAIL(36)")
                if mode == "exit":
                    os._exit(3)
                while mode == "hang":
                    time.sleep(0.01)
                    mode = self.mode()
                if mode.startswith("sleep:"):
                    time.sleep(float(mode.partition(":")[2]))
                return real(nhwc)

            engine.backend.run = run  # type: ignore[method-assign]
            return engine

        return open_faulty
