"""The event loop's side of the device process: loads, windows in flight, admission, restarts.

Admission is decided here, before a request's body is read: a window is admitted only while fewer than
QUEUE_LIMIT wait and its answer is expected within ANSWER_DEADLINE_MS. Expected: the windows ahead, each at
its model's measured pace on the device (the models of one sidecar share it), and this one at its own, plus
what recent answers took beyond that same estimate (the event loop's turns,
the handler, the pipe; measured by the AdmissionGate on each answer sent), plus the loop's turns before
admission (loop_watch.py). An answer later than EdgeInfer's 45 ms read timeout is a stub anyway, and work
spent on it is taken from requests that could still be answered, so refusing it at once (503 +
Retry-After) keeps goodput at capacity under any overload. While less than one of the loop's turns of work
waits, the lateness is not counted: the loop refills the queue once a turn, so a shorter queue leaves the
device idle. A window that finds the device idle is always admitted: a device slower than the deadline still
answers one at a time, and its model's pace (the median of its last windows, so one stalled window does not
count) is measured again. The device process works windows in arrival order.

When the device process dies, every window in flight fails at once, and a new process is forked with the
releases the old one held.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import multiprocessing
import socket
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve import wire
from hailo_pipeline.serve.device import process as device_process
from hailo_pipeline.serve.host.loop_watch import TURNS_BEFORE_ADMISSION
from hailo_pipeline.serve.messages import LoadRequest, OpenEngine
from hailo_pipeline.serve.wire import Kind

log = logging.getLogger("hailo_pipeline.serve.host.device_host")
PACE_WINDOWS = 31  # a model's pace is the median of its last this many windows
LATE_ANSWERS = 100  # the answers whose lateness beyond the estimate counts
# which of their latenesses: at 64 clients the median let answered p99 reach 44-48 ms; the 95th kept so few
# windows waiting that the device idled (544 answers/s against 842); the 80th: 842/s, p99 41-42 ms
LATENESS_QUANTILE = 0.8


class OverloadedError(Exception):
    """Admitting one more window would miss the deadline or overflow the queue."""


class BackendError(Exception):
    """The backend raised while running a window, or the device process ended."""


class LoadError(PipelineError):
    def __init__(self, reason: str, device_full: bool) -> None:
        super().__init__(reason)
        self.device_full = device_full


@dataclass
class Loaded:
    """A release ready in the device process."""

    key: int
    request: LoadRequest
    release: str
    window: int
    info: dict[str, Any]
    failure: str | None = None

    @property
    def name(self) -> str:
        return str(self.info["name"])

    @functools.cached_property
    def answers(self) -> dict[str, slice]:
        """Where each answer lies in the vector an ANSWER frame carries (heads.flat)."""
        slices, start = {}, 0
        for name, size, _ in self.info["answers"]:
            slices[name], start = slice(start, start + size), start + size
        return slices


@dataclass
class _Pace:
    """A loaded model's seconds per window on the device: the median of its last PACE_WINDOWS."""

    recent_s: deque[float] = field(default_factory=lambda: deque(maxlen=PACE_WINDOWS))
    seconds: float = 0.0

    def add(self, seconds: float) -> None:
        self.recent_s.append(seconds)
        self.seconds = statistics.median(self.recent_s)


@dataclass
class _Pending:
    future: asyncio.Future[Any]
    key: int  # the engine it is for
    sent: float
    window: bool  # a window to run (else a load)
    cost_s: float = 0.0  # its model's pace when it was sent: what it adds to the queued work
    pace: _Pace | None = None


@dataclass
class DeviceHost:
    queue_limit: int
    deadline_s: float
    timeout_s: float
    opener: OpenEngine = device_process.open_engine
    observe: Callable[[int, float], None] = lambda key, seconds: None  # an engine's backend time for one window
    loop_turn_s: Callable[[], float] = lambda: 0.0  # the event loop's longest recent turn (loop_watch.py)
    parity: Callable[[int, float, float], None] = lambda key, cosine, threshold: None  # a sampled window's (device/parity.py)
    loaded: dict[int, Loaded] = field(default_factory=dict)
    paces: dict[int, _Pace] = field(default_factory=dict)  # by engine key; seeded with the warm-up's pace at load
    queued_s: float = 0.0  # the device work waiting: each window in flight at its model's pace
    late_s: deque[float] = field(default_factory=lambda: deque(maxlen=LATE_ANSWERS))  # answers' time beyond the estimate
    problem_since_exit: str | None = None

    def __post_init__(self) -> None:
        self._jobs = 0
        self._keys = 0
        self._pending: dict[int, _Pending] = {}
        self._windows = 0  # windows sent and not yet answered, those whose caller gave up included
        self._transport: asyncio.Transport | None = None
        self._process: Any = None
        self._restarting: asyncio.Task[None] | None = None
        self._last_answer = time.perf_counter()
        self._stopping = False
        self._lateness_s = 0.0  # late_s at LATENESS_QUANTILE

    # --- the process ---------------------------------------------------------------------------
    async def start(self) -> None:
        ours, theirs = socket.socketpair()
        # fork: the child starts at once with what this process imported (and, in tests, their doubles)
        process = multiprocessing.get_context("fork").Process(
            target=device_process.main, args=(theirs, self.opener), name="hailo-device", daemon=True
        )
        process.start()
        theirs.close()
        self._process = process
        self._transport, _ = await asyncio.get_running_loop().connect_accepted_socket(lambda: _Channel(self), ours)

    def _on_frame(self, frame: wire.Frame) -> None:
        """Runs inside the socket's read callback: an answer's waiter is woken in the same loop iteration."""
        self._last_answer = time.perf_counter()
        if frame.kind is Kind.HEALTH:
            if frame.key in self.loaded:
                self.loaded[frame.key].failure = frame.payload.decode() or None
            return
        if frame.kind is Kind.PARITY:
            cosine, threshold = np.frombuffer(frame.payload, np.float32)
            self.parity(frame.key, float(cosine), float(threshold))
            return
        pending = self._pending.pop(frame.job, None)
        if pending is None:
            return
        self._windows -= pending.window
        self.queued_s = self.queued_s - pending.cost_s if self._windows else 0.0  # at 0 exactly, whatever rounding gathered
        if frame.kind is Kind.ANSWER:
            values = np.frombuffer(frame.payload, np.float32)
            if pending.pace is not None:
                pending.pace.add(float(values[0]))
            self.observe(frame.key, float(values[0]))
        if pending.future.done():
            return  # its caller gave up (timeout) before the answer came
        if frame.kind is Kind.ANSWER:
            pending.future.set_result(values[1:])
        elif frame.kind is Kind.FAILED:
            pending.future.set_exception(BackendError(frame.payload.decode()))
        elif frame.kind is Kind.LOADED:
            pending.future.set_result(json.loads(frame.payload))
        elif frame.kind is Kind.LOAD_FAILED:
            doc = json.loads(frame.payload)
            pending.future.set_exception(LoadError(doc["reason"], bool(doc["device_full"])))

    def _on_lost(self) -> None:
        if not self._stopping:
            self._restarting = asyncio.get_running_loop().create_task(self._restart())

    async def _restart(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._process.join, 5)
        exit_code = self._process.exitcode
        self.problem_since_exit = f"the device process ended (exit code {exit_code}); restarting it"
        log.error("%s", self.problem_since_exit)
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(BackendError(self.problem_since_exit))
        self._pending.clear()
        self._windows, self.queued_s = 0, 0.0
        held = list(self.loaded.values())
        await self.start()
        for loaded in held:
            try:
                await self._send_load(loaded.key, loaded.request)
            except PipelineError as exc:
                loaded.failure = f"not reloaded after the device process ended: {exc}"
        self.problem_since_exit = None

    async def stop(self) -> None:
        """Lets the windows in flight finish, then ends the device process."""
        self._stopping = True
        deadline = time.perf_counter() + self.timeout_s
        while self._pending and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        if self._transport is not None:
            self._write(wire.encode(Kind.STOP))
        if self._process is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._process.join, 10)
        if self._transport is not None:
            self._transport.close()

    # --- releases -----------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        assert self._transport is not None, "start() first"
        self._transport.write(data)

    def _send(self, kind: Kind, key: int, payload: bytes) -> asyncio.Future[Any]:
        self._jobs = (self._jobs + 1) % 2**32
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        window = kind is Kind.INFER
        pace = self.paces.get(key) if window else None
        cost_s = pace.seconds if pace is not None else 0.0
        self._pending[self._jobs] = _Pending(future, key, time.perf_counter(), window, cost_s, pace)
        self._windows += window
        self.queued_s += cost_s
        self._write(wire.encode(kind, self._jobs, key, payload))
        return future

    async def _send_load(self, key: int, request: LoadRequest) -> dict[str, Any]:
        return dict(await self._send(Kind.LOAD, key, request.as_json()))

    async def load(self, request: LoadRequest) -> Loaded:
        """Loads, warms up and golden-checks a release beside the others; raises LoadError with the reason."""
        self._keys += 1
        description = await self._send_load(self._keys, request)
        loaded = Loaded(self._keys, request, str(description["release"]), int(description["window"]), description)
        self.loaded[loaded.key] = loaded
        self.paces[loaded.key] = _Pace()  # no answer yet: the warm-up's pace, so the first burst is not admitted blind
        self.paces[loaded.key].add(float(description["warmup_s_per_window"]))
        return loaded

    async def drain(self, keys: set[int]) -> None:
        """Waits until the windows for the engines `keys` are answered (or their callers gave up), once they take no
        new ones: first ANSWER_DEADLINE_MS, in which a window admitted before is sent (its body read) or is too late
        for its caller anyway, then the windows in flight, at most INFER_TIMEOUT_MS in all."""
        give_up = time.perf_counter() + self.timeout_s
        await asyncio.sleep(self.deadline_s)
        while (
            waiting := [p.future for p in self._pending.values() if p.key in keys and p.window and not p.future.done()]
        ) and time.perf_counter() < give_up:
            await asyncio.wait(waiting, timeout=give_up - time.perf_counter())

    def unload(self, key: int) -> None:
        self.paces.pop(key, None)
        if self.loaded.pop(key, None) is not None:
            self._write(wire.encode(Kind.UNLOAD, 0, key))

    # --- windows ------------------------------------------------------------------------------
    def refusal(self, key: int) -> str | None:
        """Why one more window for the engine `key` cannot be admitted now, or None."""
        waiting = self._windows
        if waiting >= self.queue_limit:
            return f"{waiting} requests already wait for the device (QUEUE_LIMIT={self.queue_limit})"
        turn_s = self.loop_turn_s()
        # less than a turn of work waits: the device would idle before the loop's next turn refills it, so only the
        # queue and the turns before admission count, not the lateness recent answers had
        topping_up = self.queued_s <= turn_s
        beyond_s = TURNS_BEFORE_ADMISSION * turn_s + (0.0 if topping_up else self._lateness_s)
        if waiting and self.estimate_s(key) + beyond_s > self.deadline_s:
            return (
                f"{waiting} requests wait with {self.queued_s * 1000:.1f} ms of device work: one more at {self.pace_s(key) * 1000:.2f} ms "
                f"would be answered after ANSWER_DEADLINE_MS={self.deadline_s * 1000:.0f}"
                + (f" ({beyond_s * 1000:.1f} ms beyond the queue)" if beyond_s else "")
            )
        return None

    def pace_s(self, key: int) -> float:
        """The engine `key`'s measured seconds per window (0 for one not loaded)."""
        pace = self.paces.get(key)
        return pace.seconds if pace is not None else 0.0

    def estimate_s(self, key: int) -> float:
        """How long a window for the engine `key` admitted now waits for its answer, from the queue ahead and the
        paces alone."""
        return self.queued_s + self.pace_s(key)

    def answered(self, estimate_s: float, took_s: float) -> None:
        """An admitted window was answered took_s after admission, against estimate_s then."""
        self.late_s.append(took_s - estimate_s)
        ordered = sorted(self.late_s)
        self._lateness_s = max(0.0, ordered[int(LATENESS_QUANTILE * (len(ordered) - 1))])

    def submit(self, key: int, window: NDArray[np.float32]) -> asyncio.Future[NDArray[np.float32]]:
        """Sends a raw window (H, T, 9) to the engine `key`; the future gets its answers' vector (Loaded.answers)."""
        problem = self.refusal(key)
        if problem is not None:
            raise OverloadedError(problem)
        return self._send(Kind.INFER, key, np.ascontiguousarray(window, np.float32).tobytes())

    def depth(self) -> int:
        return self._windows

    def problem(self, key: int) -> str | None:
        """Why the engine `key` cannot be trusted right now, or None."""
        if self.problem_since_exit:
            return self.problem_since_exit
        if self._windows:
            oldest = min(p.sent for p in self._pending.values() if p.window)
            stalled = time.perf_counter() - max(oldest, self._last_answer)
            if stalled > self.timeout_s:
                return f"backend hung: no answer from the device for {stalled:.1f} s"
        loaded = self.loaded.get(key)
        if loaded is None:
            return "not loaded"
        return f"backend failing: {loaded.failure}" if loaded.failure else None


class _Channel(asyncio.Protocol):
    """The event loop's end of the socketpair to the device process."""

    def __init__(self, host: DeviceHost) -> None:
        self.host, self.frames = host, wire.Frames()

    def data_received(self, data: bytes) -> None:
        for frame in self.frames.feed(data):
            self.host._on_frame(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.host._on_lost()
