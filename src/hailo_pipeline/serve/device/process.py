"""The device process: the one process that owns the accelerator and every loaded release's engine.

The sidecar's event loop forks it at start-up and talks to it in frames (serve/wire.py). Its main thread runs
windows one at a time, in arrival order, on the engine a frame names, so inference never competes with
HTTP parsing for one interpreter lock. A release is loaded beside the others on a thread of its own
(checksums, backend, warm-up, golden vectors) while the main thread keeps answering; on HailoRT all of
them are network groups of one VDevice under the ROUND_ROBIN scheduler. An engine that raised is probed
with its golden vectors while the process is idle, and reported healthy again when they reproduce.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import stat
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from hailo_pipeline.bundle import fleet_windows
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo.hailort_backend import DeviceFullError
from hailo_pipeline.serve import wire
from hailo_pipeline.serve.device.engine import Engine, load_engine
from hailo_pipeline.serve.device.parity import ParityWatch
from hailo_pipeline.serve.messages import LoadRequest, OpenEngine
from hailo_pipeline.serve.wire import Kind

WARMUP_RUNS = 20
PROBE_INTERVAL_S = 0.5


def open_engine(request: LoadRequest) -> Engine:
    return load_engine(
        request.release_dir,
        request.backend,
        request.access,
        request.threads,
        request.timeout_ms,
        request.allowed_signers,
        request.client_units,
    )


def ready_engine(request: LoadRequest, opener: OpenEngine) -> tuple[Engine, dict[str, Any]]:
    """Opens, warms up and golden-checks a release; raises PipelineError saying why it cannot serve."""
    engine = opener(request)
    try:
        resting = np.broadcast_to(engine.mean, engine.window_shape)  # at the normalization mean
        started = time.perf_counter()
        for _ in range(WARMUP_RUNS):
            engine.infer(resting)
        warmup_s = (time.perf_counter() - started) / WARMUP_RUNS
        check = engine.golden_check()
        if not check.passed:
            raise PipelineError(f"{check.detail}: refusing to serve")
        live = live_gate(engine, request.live_windows)
    except BaseException:
        engine.backend.close()
        raise
    answers = [[a.name, a.size, a.datatype] for a in engine.head.answers]
    return engine, {
        **engine.info(),
        "window": engine.window,
        "input": {"name": engine.manifest["input"]["name"], "shape": [1, *engine.window_shape]},
        "answers": answers,
        "golden": {
            "cosine_min": check.device.cosine_min,
            "max_abs": check.device.max_abs,
            "threshold": check.threshold,
            "said": check.detail,
        },
        "live_gate": live,
        "warmup_s_per_window": warmup_s,
    }


def live_gate(engine: Engine, capture: Path | None) -> dict[str, Any] | None:
    """The canary's live-window gate (issue #41): the Pi's captured windows of this model through the release and its
    FP32 ONNX, to the quantization gate. None when not asked; raises PipelineError with the figures below the gate.
    Without captured windows that fit, the gate says it judged the golden windows only."""
    if capture is None:
        return None
    rows = engine.height * engine.window
    try:
        captured = fleet_windows.read(capture).windows if capture.exists() else None
    except PipelineError as exc:
        return {"windows": 0, "passed": True, "said": f"golden windows only: {exc}"}
    if captured is None or not len(captured):
        return {"windows": 0, "passed": True, "said": "golden windows only: no captured windows of this model on the host"}
    if captured.shape[1:] != (rows, len(engine.mean)):
        shape = f"the captured windows are {captured.shape[1:]}, the release reads {(rows, len(engine.mean))}"
        return {"windows": 0, "passed": True, "said": f"golden windows only: {shape}"}
    check = engine.live_check(captured)
    if not check.passed:
        raise PipelineError(f"live-window gate on {engine.backend.name}: {check.summary()}: refusing to serve")
    return {"windows": check.windows, "passed": True, "cosine_min": check.cosine_min, "threshold": check.threshold, "said": check.summary()}


class DeviceProcess:
    def __init__(self, sock: socket.socket, opener: OpenEngine) -> None:
        self.sock, self.opener = sock, opener
        self.engines: dict[int, Engine] = {}
        self.failures: dict[int, str] = {}
        self.send_lock = threading.Lock()
        self.parity = ParityWatch(self.parity_measured)

    def send(self, kind: Kind, job: int = 0, key: int = 0, payload: bytes = b"") -> None:
        with self.send_lock:
            self.sock.sendall(wire.encode(kind, job, key, payload))

    def load(self, job: int, key: int, request: LoadRequest) -> None:
        try:
            engine, description = ready_engine(request, self.opener)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {exc}"
            self.send(Kind.LOAD_FAILED, job, key, json.dumps({"reason": reason, "device_full": isinstance(exc, DeviceFullError)}).encode())
            return
        self.engines[key] = engine
        self.parity.watch(key, engine, request.parity_every)
        self.send(Kind.LOADED, job, key, json.dumps(description).encode())

    def parity_measured(self, key: int, cosine: float, threshold: float) -> None:
        self.send(Kind.PARITY, 0, key, np.array([cosine, threshold], np.float32).tobytes())

    def infer(self, job: int, key: int, payload: bytes) -> None:
        engine = self.engines.get(key)
        if engine is None:
            return self.send(Kind.FAILED, job, key, b"that release is not loaded in the device process")
        values = np.frombuffer(payload, np.float32)
        if values.size != np.prod(engine.window_shape):
            return self.send(Kind.FAILED, job, key, f"a window of {values.size} values for {engine.release}".encode())
        window = values.reshape(engine.window_shape)
        started = time.perf_counter()
        try:
            device_output = engine.device_output(window)
            answers = engine.answers(device_output)
        except Exception as exc:
            self.failures[key] = f"{type(exc).__name__}: {exc}"
            self.send(Kind.HEALTH, 0, key, self.failures[key].encode())
            return self.send(Kind.FAILED, job, key, self.failures[key].encode())
        seconds = np.float32(time.perf_counter() - started)
        if self.failures.pop(key, None) is not None:
            self.send(Kind.HEALTH, 0, key)
        self.send(Kind.ANSWER, job, key, np.concatenate([[seconds], answers]).astype(np.float32).tobytes())
        self.parity.offer(key, engine, window, device_output)

    def probe_failing(self) -> None:
        for key in list(self.failures):
            engine = self.engines.get(key)
            try:
                passed = engine is not None and engine.golden_check().passed
            except Exception:
                passed = False
            if passed:
                del self.failures[key]
                self.send(Kind.HEALTH, 0, key)

    def unload(self, key: int) -> None:
        engine = self.engines.pop(key, None)
        self.failures.pop(key, None)
        self.parity.forget(key)
        if engine is not None:
            engine.backend.close()

    def run(self) -> None:
        while True:
            readable, _, _ = select.select([self.sock], [], [], PROBE_INTERVAL_S)
            if not readable:
                self.probe_failing()
                continue
            frame = wire.receive(self.sock)
            if frame is None or frame.kind is Kind.STOP:
                break
            if frame.kind is Kind.INFER:
                self.infer(frame.job, frame.key, frame.payload)
            elif frame.kind is Kind.LOAD:
                request = LoadRequest.from_json(frame.payload)
                threading.Thread(target=self.load, args=(frame.job, frame.key, request), name="load", daemon=True).start()
            elif frame.kind is Kind.UNLOAD:
                self.unload(frame.key)
        for key in list(self.engines):
            self.unload(key)


def _let_go_of_inherited_sockets(keep: int) -> None:
    """Points every socket descriptor the fork copied (EdgeInfer's listener and connections, the control
    listener, the parent's end of the channel) at /dev/null, all but `keep`. A copy held here would keep the
    listener taking connections into a backlog nobody reads once the parent stopped listening, and keep open a
    connection the parent closed. The numbers stay taken, so a copied socket object closing one closes /dev/null."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd in (keep, null) or fd <= 2:
                continue  # stdio stays, even where it is a socket (a journal's): the child's tracebacks go there
            try:
                mode = os.fstat(fd).st_mode
            except OSError:
                continue  # the listing's own descriptor, closed by now
            if stat.S_ISSOCK(mode):
                os.dup2(null, fd, inheritable=False)
    finally:
        os.close(null)


def main(sock: socket.socket, opener: OpenEngine) -> None:
    """Entry point of the forked child: the parent handles signals and tells it to stop."""
    _let_go_of_inherited_sockets(keep=sock.fileno())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        DeviceProcess(sock, opener).run()
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    os._exit(0)
