"""One inference worker owns the backend (one device, one thread); a bounded queue sits in front.

A full queue refuses at once (the caller answers 503 + Retry-After and EdgeInfer falls back on its own).
A backend that raises marks the sidecar failing until a golden window runs clean again; the worker
probes that itself while idle, so health recovers without traffic. A call that runs past the timeout
marks the backend hung until it returns.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

PROBE_INTERVAL_S = 0.5


class OverloadedError(Exception):
    """The queue in front of the device is full."""


class BackendError(Exception):
    """The backend raised while running a window."""


@dataclass
class Job:
    rows: NDArray[np.float32]
    future: Future[tuple[NDArray[np.float32], NDArray[np.float32]]]
    enqueued: float


class InferenceWorker:
    def __init__(
        self,
        infer: Callable[[NDArray[np.float32]], tuple[NDArray[np.float32], NDArray[np.float32]]],
        probe: Callable[[], None],
        queue_limit: int,
        timeout_s: float,
        observe: Callable[[float], None] = lambda _: None,
    ) -> None:
        self.infer, self.probe, self.timeout_s, self.observe = infer, probe, timeout_s, observe
        self.jobs: queue.Queue[Job | None] = queue.Queue(maxsize=queue_limit)
        self.failure: str | None = None
        self.busy_since: float | None = None
        self.thread = threading.Thread(target=self._loop, name="inference-worker", daemon=True)
        self.thread.start()

    def submit(self, rows: NDArray[np.float32]) -> Future[tuple[NDArray[np.float32], NDArray[np.float32]]]:
        job = Job(rows, Future(), time.perf_counter())
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            raise OverloadedError(f"{self.jobs.maxsize} requests already wait for the device") from None
        return job.future

    def problem(self) -> str | None:
        """Why the backend cannot be trusted right now, or None."""
        busy = self.busy_since
        if busy is not None and time.perf_counter() - busy > self.timeout_s:
            return f"backend hung: one inference has run for {time.perf_counter() - busy:.1f} s"
        return f"backend failing: {self.failure}" if self.failure else None

    def _run(self, job: Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return  # the caller gave up while it waited
        self.busy_since = time.perf_counter()
        try:
            result = self.infer(job.rows)
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
            job.future.set_exception(BackendError(self.failure))
        else:
            self.failure = None
            self.observe(time.perf_counter() - self.busy_since)
            job.future.set_result(result)
        finally:
            self.busy_since = None

    def _loop(self) -> None:
        while True:
            try:
                job = self.jobs.get(timeout=PROBE_INTERVAL_S)
            except queue.Empty:
                if self.failure:
                    self._probe()
                continue
            if job is None:
                return
            self._run(job)

    def _probe(self) -> None:
        try:
            self.probe()
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
        else:
            self.failure = None

    def stop(self) -> None:
        """Finishes every queued job, then ends the thread."""
        self.jobs.put(None)
        self.thread.join()

    def depth(self) -> int:
        return self.jobs.qsize()
