"""Capture of client windows (issue #41), opt-in per host (CAPTURE_WINDOWS > 0): per model, a bounded sample of the
recent windows its clients sent, in the model's units (converted from the clients', not normalized), kept on a host
volume for the next build's calibration and a canary's live-window gate.

Sampling. An answered window is taken with probability CAPTURE_RATE. While the model's sample has room the window
is added; after that it replaces a kept one chosen at random. A kept window thus survives each later take with
probability 1 - 1/CAPTURE_WINDOWS, so the sample leans to recent input (half of it is younger than about
0.69 x CAPTURE_WINDOWS takes), where a uniform reservoir would hold the sidecar's whole life alike.

Storage. CAPTURE_DIR/<model>.npz, a capture file (bundle/fleet_windows.py: the windows in the model's units, when
each was taken, the release that answered it). Its size is bounded: CAPTURE_WINDOWS x the window's values x 4 bytes
(2 000 windows of 100 x 9: 7.2 MB). It is written every CAPTURE_FLUSH_S when it changed, and when the sidecar stops:
a copy made on the event loop, written atomically in a thread. A sidecar that starts reads it back. A file it
cannot use (unreadable, or another window, channels or units than the serving release's) is set aside as
<model>.npz.set-aside, never overwritten.

Failures. A write that fails (a full disk, a read-only volume) stops that model's capture: logged once with the
reason, counted in hailo_sidecar_capture_errors_total{model}, its temporary file removed. Nothing here runs before
an answer is sent, and an exception here is counted, never felt by an answer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.bundle import fleet_windows, units
from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.errors import PipelineError

log = logging.getLogger("hailo_pipeline.serve.host.capture")

SUFFIX = ".npz"
SET_ASIDE = ".set-aside"


@dataclass(frozen=True)
class Layout:
    """What a model's windows are: their shape (without the batch), channels and units. A sample holds one layout."""

    window: tuple[int, ...]
    channels: tuple[str, ...]
    units: tuple[str, ...]

    @classmethod
    def of_release(cls, manifest: Mapping[str, Any], input_shape: Sequence[int]) -> Layout:
        """The layout of a release's windows, from its manifest and its engine's input shape (batch, ..., channels):
        a window is kept as (rows, channels), its rows (..., time) flattened."""
        model_units, _ = manifest_io.input_units(dict(manifest))
        return cls((math.prod(input_shape[1:-1]), input_shape[-1]), tuple(manifest["input"]["channels"]), model_units)


class Sample:
    """One model's captured windows, in memory; `snapshot` gives what is to be written."""

    def __init__(self, model: str, layout: Layout, capacity: int) -> None:
        self.model, self.layout, self.capacity = model, layout, capacity
        self.windows = np.empty((capacity, *layout.window), np.float32)
        self.times = np.zeros(capacity, np.float64)
        self.releases: list[str] = [""] * capacity
        self.kept = self.taken = 0
        self.changed = False
        self.stopped = ""  # why the capture stopped (a failed write); empty while it runs
        self.set_aside = False  # the file on disk is not this sample's: move it aside before the next write

    def restore(self, stored: fleet_windows.Captured) -> None:
        """Takes back what a file held (the newest `capacity` windows when CAPTURE_WINDOWS shrank)."""
        newest = np.argsort(stored.time)[-self.capacity :]
        n = len(newest)
        self.windows[:n], self.times[:n] = stored.windows[newest], stored.time[newest]
        self.releases[:n] = stored.release[newest].tolist()
        self.kept = n

    def take(self, window: NDArray[Any], scale: NDArray[np.float64] | None, release: str, slot: int) -> None:
        """Stores a client window (as sent) in the model's units, in `slot` (self.kept while there is room)."""
        values = window.reshape(self.layout.window)
        if scale is None:
            self.windows[slot] = values
        else:
            np.multiply(values, scale, out=self.windows[slot], casting="unsafe")
        self.times[slot], self.releases[slot] = time.time(), release
        self.kept = max(self.kept, slot + 1)
        self.taken += 1
        self.changed = True

    def snapshot(self) -> fleet_windows.Captured | None:
        """A copy of the sample to write, or None when nothing changed since the last (or the capture stopped)."""
        if not self.changed or self.stopped:
            return None
        self.changed = False
        n = self.kept
        release = np.asarray(self.releases[:n], dtype=str)
        return fleet_windows.Captured(self.windows[:n].copy(), self.times[:n].copy(), release, self.layout.channels, self.layout.units)


@dataclass(frozen=True)
class _Serving:
    sample: Sample
    release: str
    scale: NDArray[np.float64] | None  # client units -> the model's, per channel; None: alike


class Captures:
    """The capture of every model a sidecar serves, and its writing."""

    def __init__(
        self,
        folder: Path,
        capacity: int,
        rate: float,
        flush_s: float,
        failed: Callable[[str], None],
        chance: Callable[[], float] = random.random,
    ) -> None:
        """failed(model) counts a failure; chance() draws in [0, 1) (a test makes it certain)."""
        self.folder, self.capacity, self.rate, self.flush_s = folder, capacity, rate, flush_s
        self._failed, self._chance = failed, chance
        self.samples: dict[str, Sample] = {}
        self._serving: dict[int, _Serving] = {}  # by engine key

    def path(self, model: str) -> Path:
        return self.folder / f"{model}{SUFFIX}"

    def serve(self, model: str, key: int, release: str, layout: Layout, client_units: tuple[str, ...]) -> None:
        """`model` now answers with release `release` (engine `key`), whose clients send `client_units`. The model's
        sample is read back from its file the first time; a release of another layout starts a new one."""
        sample = self.samples.get(model)
        if sample is None or sample.layout != layout:
            restarted = sample is not None and sample.kept > 0
            sample = self.samples[model] = Sample(model, layout, self.capacity)
            if restarted:
                sample.set_aside = True
                log.warning("%s: %s has another window, channels or units: a new capture sample", model, release)
            else:
                self._read_back(sample)
        factors = units.factors(layout.channels, client_units, layout.units)
        scale = None if all(f == 1 for f in factors) else np.asarray(factors, np.float64)
        self._serving[key] = _Serving(sample, release, scale)

    def forget(self, keys: set[int]) -> None:
        """The engines of `keys` no longer answer (their windows are taken no more)."""
        for key in keys:
            self._serving.pop(key, None)

    def offer(self, key: int, window: NDArray[Any]) -> None:
        """An answered window of engine `key`, as its client sent it: taken with probability CAPTURE_RATE."""
        serving = self._serving.get(key)
        if serving is None or serving.sample.stopped or self._chance() >= self.rate:
            return
        sample = serving.sample
        try:
            slot = sample.kept if sample.kept < sample.capacity else int(self._chance() * sample.capacity)
            sample.take(window, serving.scale, serving.release, slot)
        except Exception:
            self._stop(sample, "taking a window failed")
            log.exception("%s: capturing a window failed; the capture stops (answers are unaffected)", sample.model)

    async def run(self) -> None:
        """Writes the changed samples every CAPTURE_FLUSH_S, until cancelled."""
        while True:
            await asyncio.sleep(self.flush_s)
            await self.write()

    async def write(self) -> None:
        """Writes every changed sample: its copy made here, on the loop; the file written in a thread."""
        for sample in list(self.samples.values()):
            snapshot = sample.snapshot()
            if snapshot is not None:
                await asyncio.to_thread(self._write, sample, snapshot)

    def _write(self, sample: Sample, snapshot: fleet_windows.Captured) -> None:
        path = self.path(sample.model)
        try:
            if sample.set_aside and path.exists():
                os.replace(path, path.with_name(path.name + SET_ASIDE))
            sample.set_aside = False
            fleet_windows.write(path, snapshot)
        except OSError as exc:
            self._stop(sample, f"writing {path} failed: {exc.strerror or exc}")
            log.error("%s: the capture stops: writing %s failed (%s); answers are unaffected", sample.model, path, exc)

    def _read_back(self, sample: Sample) -> None:
        """The model's file into `sample`; a file that does not fit is set aside (kept, never overwritten)."""
        path = self.path(sample.model)
        if not path.exists():
            return
        try:
            stored = fleet_windows.read(path)
            layout = Layout(stored.windows.shape[1:], stored.channels, stored.units)
            problem = "" if layout == sample.layout else f"its windows are {layout}, the release's {sample.layout}"
        except PipelineError as exc:
            problem = str(exc)
        if problem:
            sample.set_aside = True
            log.warning("%s: %s is set aside as %s: %s", sample.model, path, path.name + SET_ASIDE, problem)
            return
        sample.restore(stored)
        log.info("%s: %d captured windows read back from %s", sample.model, sample.kept, path)

    def _stop(self, sample: Sample, reason: str) -> None:
        sample.stopped = reason
        self._failed(sample.model)

    def state(self) -> dict[str, dict[str, Any]]:
        """Per model: windows kept and taken since start, its file, and why its capture stopped (empty: running)."""
        return {
            model: {"kept": s.kept, "taken": s.taken, "capacity": s.capacity, "file": str(self.path(model)), "stopped": s.stopped}
            for model, s in self.samples.items()
        }
