"""The input guard of a serving release (issue #40): what its clients send, against its bundle's calibration envelope.

Each release a model switches to gets a fresh one (a switch back, or to the same release with other client_units,
starts over): the envelope from its manifest, the client units in force (the bundle's, or the host's
CLIENT_UNITS_FILE) and the scale that converts them to the model's units, applied by the guard once per batch.
The routes hand it each answered window after the answer (exchange.infer); /metrics and /healthz read its verdict.
Counts live in two generations of INPUT_GUARD_PERIOD_S, rotated as time passes, so a client that was fixed leaves
the verdict within two periods. Nothing here may change, delay or refuse an answer: an exception in the guard is
counted (hailo_sidecar_input_guard_errors_total), logged once per release, and the guard is skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from numpy.typing import NDArray

from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.bundle import units
from hailo_pipeline.bundle.input_guard import InputGuard, Verdict, read_envelope
from hailo_pipeline.errors import PipelineError

log = logging.getLogger("hailo_pipeline.serve.host.input_watch")


class InputWatch:
    """One serving release's input guard, its generations and its failures."""

    def __init__(
        self,
        model: str,
        manifest: Mapping[str, Any],
        client_units: Mapping[str, str],
        period_s: float,
        failed: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """client_units: the units in force, {channel: unit}; failed: counts an exception in the guard."""
        self.model, self.period_s, self._failed, self._clock = model, period_s, failed, clock
        channels = manifest["input"]["channels"]
        model_units, _ = manifest_io.input_units(dict(manifest))
        sent = tuple(client_units[channel] for channel in channels)
        try:
            envelope, self.problem = read_envelope(dict(manifest)), ""
        except PipelineError as exc:  # a malformed envelope: the release serves, its input is not judged
            envelope, self.problem = None, str(exc)
        self.guard = InputGuard(envelope, sent, units.factors(channels, sent, model_units))
        self._rotated = clock()
        self._logged = False

    def observe(self, window: NDArray[Any]) -> None:
        """Counts an answered window, as the client sent it."""
        try:
            self._rotate()
            self.guard.observe(window)
        except Exception:
            self._failure("counting a window")

    def verdict(self) -> Verdict | None:
        """The verdict over the current generation and the one before; None when the guard failed on it."""
        try:
            self._rotate()
            return self.guard.verdict()
        except Exception:
            self._failure("judging its counts")
            return None

    def warnings(self) -> list[str]:
        """/healthz's input warnings: a message per flagged channel, or why the guard judges nothing."""
        if self.guard.envelope is None:
            return [self.problem or "its bundle has no calibration envelope (built before the input guard): rebuild it to judge its input"]
        verdict = self.verdict()
        if verdict is None:
            return ["the input guard failed (hailo_sidecar_input_guard_errors_total; the sidecar's log says why); answers are unaffected"]
        return [f"{channel.message} ({verdict.windows} windows)" for channel in verdict.flagged]

    def _rotate(self) -> None:
        """A new generation every period; after two periods without a window, none of the old counts stays."""
        elapsed = self._clock() - self._rotated
        if elapsed < self.period_s:
            return
        for _ in range(min(2, int(elapsed // self.period_s))):
            self.guard.rotate()
        self._rotated += elapsed // self.period_s * self.period_s

    def _failure(self, doing: str) -> None:
        self._failed()
        if not self._logged:
            self._logged = True
            log.exception("%s: the input guard failed %s (answers are unaffected; logged once per release)", self.model, doing)
