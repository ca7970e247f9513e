"""Windows from the fleet (issue #41): the capture file a sidecar writes, and the controller's collection of them.

A capture file (`<model>.npz`) holds arrays `windows` (n, rows, channels) float32 in the model's units, `time` (n,)
the Unix time each was taken, `release` (n,) the release that answered it, `channels` and `units` (the model's).
The sidecar writes one per model (serve/host/capture.py); `collect.yml` fetches each Pi's and `collect` merges it
into the controller's `<model>/<host>.npz`, where windows are kept as they arrive (a window is known by its time
and release), with `<host>.json` beside it saying where they came from. `load_folder` reads a model's folder, and
plain `.npy` arrays of raw windows recorded elsewhere, for calibration.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.bundle import units as units_io
from hailo_pipeline.errors import PipelineError

ARRAYS = ("windows", "time", "release", "channels", "units")


@dataclass(frozen=True)
class Captured:
    """Windows taken from clients, in `units`, each with the time it was taken and the release that answered it."""

    windows: NDArray[np.float32]  # (n, rows, channels)
    time: NDArray[np.float64]
    release: NDArray[np.str_]
    channels: tuple[str, ...]
    units: tuple[str, ...]

    def arrays(self) -> dict[str, NDArray[Any]]:
        return {
            "windows": self.windows,
            "time": self.time,
            "release": self.release,
            "channels": np.asarray(self.channels, dtype=str),
            "units": np.asarray(self.units, dtype=str),
        }


def read(path: Path) -> Captured:
    """A capture file, checked: PipelineError naming the file and what is wrong with it."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            missing = [name for name in ARRAYS if name not in stored.files]
            if missing:
                raise PipelineError(f"{path} is not a capture file: no {', '.join(missing)} (expected {', '.join(ARRAYS)})")
            arrays = {name: stored[name] for name in ARRAYS}
    except FileNotFoundError:
        raise PipelineError(f"capture file {path} not found") from None
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{path} is not a capture file (.npz): {exc}") from None
    windows, n = arrays["windows"], len(arrays["windows"])
    channels = tuple(map(str, arrays["channels"]))
    if windows.ndim != 3 or windows.shape[2] != len(channels) or len(arrays["units"]) != len(channels):
        raise PipelineError(f"{path}: windows of shape {windows.shape} for {len(channels)} channels; expected (n, rows, channels)")
    if len(arrays["time"]) != n or len(arrays["release"]) != n:
        raise PipelineError(f"{path}: {n} windows, {len(arrays['time'])} times and {len(arrays['release'])} releases")
    units = tuple(map(str, arrays["units"]))
    return Captured(windows.astype(np.float32), arrays["time"].astype(np.float64), arrays["release"].astype(str), channels, units)


def write(path: Path, captured: Captured) -> None:
    """Writes atomically: a temporary file beside `path`, fsynced, renamed over it, the folder fsynced. Raises
    OSError (a full disk, a read-only folder) with the temporary file removed."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with temporary.open("wb") as file:
            np.savez(file, allow_pickle=False, **captured.arrays())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def merge(kept: Captured | None, incoming: Captured) -> tuple[Captured, int]:
    """`kept` with the windows of `incoming` it does not have yet (known by time and release), oldest first; and how
    many were added. Both must be of one layout."""
    if kept is None:
        order = np.argsort(incoming.time, kind="stable")
        ordered = Captured(incoming.windows[order], incoming.time[order], incoming.release[order], incoming.channels, incoming.units)
        return ordered, len(order)
    layout = (kept.windows.shape[1:], kept.channels, kept.units)
    new_layout = (incoming.windows.shape[1:], incoming.channels, incoming.units)
    if layout != new_layout:
        raise PipelineError(f"windows of {new_layout} cannot join the collected ones of {layout}: the model's input changed")
    known = set(zip(kept.time.tolist(), kept.release.tolist(), strict=True))
    new = np.asarray([(t, r) not in known for t, r in zip(incoming.time.tolist(), incoming.release.tolist(), strict=True)], bool)
    if not new.any():
        return kept, 0
    time = np.concatenate([kept.time, incoming.time[new]])
    order = np.argsort(time, kind="stable")
    windows = np.concatenate([kept.windows, incoming.windows[new]])[order]
    release = np.concatenate([kept.release, incoming.release[new]])[order]
    return Captured(windows, time[order], release, kept.channels, kept.units), int(new.sum())


def provenance(host: str, model: str, captured: Captured, path: Path) -> dict[str, Any]:
    """Where a host's collected windows came from: the host, the model, how many, the time span they were taken in,
    the releases that answered them, and the file's sha256."""
    return {
        "host": host,
        "model": model,
        "windows": len(captured.windows),
        "first": float(captured.time.min()) if len(captured.time) else None,
        "last": float(captured.time.max()) if len(captured.time) else None,
        "releases": dict(sorted(Counter(captured.release.tolist()).items())),
        "channels": list(captured.channels),
        "units": list(captured.units),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def collect(incoming: Path, into: Path, host: str) -> dict[str, Any]:
    """Merges a capture file fetched from `host` (`<model>.npz`) into `into/<model>/<host>.npz`, with its provenance
    in `<host>.json`; writes nothing when it brings no new window. Returns the provenance and `added`."""
    model = incoming.name.removesuffix(".npz")
    folder = into / model
    kept_path, record = folder / f"{host}.npz", folder / f"{host}.json"
    kept = read(kept_path) if kept_path.exists() else None
    merged, added = merge(kept, read(incoming))
    if added or not record.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write(kept_path, merged)
        text = json.dumps(provenance(host, model, merged, kept_path), indent=2) + "\n"
        temporary = record.with_name(f".{record.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, record)
    return json.loads(record.read_text(encoding="utf-8")) | {"added": added}


def load_folder(folder: Path, channels: Sequence[str], model_units: Sequence[str]) -> tuple[NDArray[np.float32], list[dict[str, Any]]]:
    """Every window of a fleet-data folder, in `model_units`, as (N, rows, channels), oldest capture first; and where
    each file's came from. The folder holds collected capture files (`<host>.npz`, converted from their units) and
    plain `.npy` arrays of raw windows (N, rows, channels) in the model's units, recorded elsewhere."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".npz", ".npy") and not p.name.startswith(".")) if folder.is_dir() else []
    if not files:
        raise PipelineError(f"{folder} holds no windows (.npz capture files, .npy arrays): collect.yml fetches the fleet's there")
    parts, sources = [], []
    for path in files:
        if path.suffix == ".npz":
            captured = read(path)
            if captured.channels != tuple(channels):
                raise PipelineError(f"{path}: channels {list(captured.channels)}, the spec's are {list(channels)}")
            scale = np.asarray(units_io.factors(channels, captured.units, model_units), np.float32)
            parts.append(captured.windows * scale)
            sources.append({"file": path.name, "windows": len(captured.windows), "releases": sorted(set(captured.release.tolist()))})
            continue
        try:
            data = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise PipelineError(f"{path} is not a numeric .npy file: {exc}") from None
        if data.ndim != 3 or data.shape[2] != len(channels) or not np.issubdtype(data.dtype, np.number):
            raise PipelineError(f"{path} holds {data.dtype} windows of shape {data.shape}; expected (N, rows, {len(channels)}) numbers")
        parts.append(data.astype(np.float32))
        sources.append({"file": path.name, "windows": len(data), "releases": []})
    rows = {part.shape[1] for part in parts}
    if len(rows) > 1:
        raise PipelineError(f"{folder}: windows of {sorted(rows)} rows; one model's windows have one length")
    return np.concatenate(parts), sources
