"""Sample client traffic from files, and the input guard's verdict on it (`hailo-pipeline check-input`, and the
build report when the spec names `input.sample_traffic`).

A file is an EdgeInfer request body (`{"x": rows}`, JSON: one window) or an .npy of windows: (T, channels) is one,
(N, T, channels) or (N, H, T, channels) are N. Values are in the client's units; they are converted to the model's
as the sidecar converts them before the guard sees them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.bundle import units
from hailo_pipeline.bundle.input_guard import Envelope, InputGuard, Verdict
from hailo_pipeline.errors import PipelineError


def read_windows(path: Path, channels: int) -> list[NDArray[np.float64]]:
    """The windows of one sample file, each (..., T, channels)."""
    try:
        if path.suffix == ".npy":
            data = np.load(path, allow_pickle=False)
            if not np.issubdtype(data.dtype, np.number):
                raise PipelineError(f"{path} holds {data.dtype} values; expected numbers")
            if data.ndim not in (2, 3, 4):
                raise PipelineError(f"{path} has shape {data.shape}; expected (T, {channels}), (N, T, {channels}) or (N, H, T, {channels})")
            windows = list(data.astype(np.float64)) if data.ndim > 2 else [data.astype(np.float64)]
        else:
            windows = [_edgeinfer_body(path, json.loads(path.read_text(encoding="utf-8")), channels)]
    except FileNotFoundError:
        raise PipelineError(f"sample file {path} not found") from None
    except OSError as exc:
        raise PipelineError(f"sample file {path} cannot be read: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{path} is neither an EdgeInfer request body (JSON) nor an .npy of windows: {exc}") from None
    for window in windows:
        if window.shape[-1] != channels:
            raise PipelineError(f"{path}: windows of {window.shape[-1]} channels; the model reads {channels}")
        if not np.isfinite(window).all():
            raise PipelineError(f"{path} holds NaN or infinite values, which the sidecar refuses (422) before any model sees them")
    return windows


def _edgeinfer_body(path: Path, body: Any, channels: int) -> NDArray[np.float64]:
    rows = body.get("x") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(row, list) and len(row) == channels for row in rows):
        raise PipelineError(f'{path}: an EdgeInfer request body is {{"x": [[...{channels} numbers...], ...]}} (rows oldest first)')
    return np.asarray(rows, np.float64)


def verdict(paths: Sequence[Path], channels: Sequence[str], client_units: Sequence[str], envelope: Envelope | None) -> Verdict:
    """The guard's verdict on the files' windows, sent in client_units (converted to the envelope's units as it counts)."""
    scale = units.factors(channels, client_units, envelope.units) if envelope is not None else None
    guard = InputGuard(envelope, client_units, scale)
    for path in paths:
        for window in read_windows(path, len(channels)):
            guard.observe(window)
    return guard.verdict()
