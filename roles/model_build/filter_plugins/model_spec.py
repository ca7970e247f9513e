"""Filters that turn one entry of model_build_models into the spec hailo-pipeline reads on GPUSrv.

The entry is a spec whose file paths (source.checkpoint, source.onnx, calibration.source unless
"synthetic") are on the controller; the role copies those files next to the rendered spec, so the spec
names them by file name only.
"""

from __future__ import annotations

import copy
import posixpath
from typing import Any

_SOURCE_FILES = ("checkpoint", "onnx")


def _calibration_file(entry: dict[str, Any]) -> str | None:
    source = (entry.get("calibration") or {}).get("source", "synthetic")
    return None if source == "synthetic" else str(source)


def model_build_inputs(entry: dict[str, Any]) -> list[str]:
    """The controller files a model's build reads."""
    files = [str(entry["source"][key]) for key in _SOURCE_FILES if entry["source"].get(key)]
    calibration = _calibration_file(entry)
    return files + ([calibration] if calibration else [])


def model_build_spec(entry: dict[str, Any], require_hef: bool) -> dict[str, Any]:
    """The spec as GPUSrv sees it: input files by name, require_hef from the role unless the entry sets it."""
    spec = copy.deepcopy(dict(entry))
    for key in _SOURCE_FILES:
        if spec["source"].get(key):
            spec["source"][key] = posixpath.basename(str(spec["source"][key]))
    calibration = _calibration_file(spec)
    if calibration:
        spec["calibration"]["source"] = posixpath.basename(calibration)
    spec.setdefault("require_hef", require_hef)
    return spec


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"model_build_inputs": model_build_inputs, "model_build_spec": model_build_spec}
