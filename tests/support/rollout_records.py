"""Rollout records (role rollout_report's <host>.json) made of what a live sidecar and the EdgeInfer stand-in answer
around a switch through the live-window gate."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from hailo_pipeline.bundle import fleet_windows
from tests.conftest import SAMPLES
from tests.support.fleet_data import capture, physical
from tests.support.sidecar_server import RunningSidecar, running
from tests.unit.test_edgeinfer_standin import Standin

WINDOW = json.loads((SAMPLES / "static_imu_sample.json").read_text())["x"]
MODEL = "tcn-encoder"
SENT_DURING = 25  # EdgeInfer's calls between the reads before and after
CAPTURED = 40


def _read(s: RunningSidecar, edgeinfer: Standin) -> dict[str, str]:
    return {"sidecar_metrics": httpx.get(f"{s.url}/metrics").text, "edgeinfer_metrics": edgeinfer.call("GET", "/metrics")[2].decode()}


def record(
    host: str, before: dict[str, str], after: dict[str, Any], served: str, asked: str, error: str = "", canary: bool = False
) -> dict[str, Any]:
    """A record as role rollout_report writes it (tasks/main.yml)."""
    return {
        "host": host,
        "canary": canary,
        "started": "2026-12-07T20:00:00Z",
        "finished": "2026-12-07T20:00:30Z",
        "serving_before": {MODEL: served},
        "asked": {MODEL: asked},
        "before": before,
        "after": after,
        "error": error,
    }


def gated(served: Path, new: Path, start_standin: Callable[..., Standin], folder: Path) -> dict[str, Any]:
    """A canary's rollout on a live sidecar (ONNX Runtime) from `served` to `new`: EdgeInfer's calls before and after a
    switch through the live-window gate on CAPTURED captured windows, the counters read before and after."""
    (folder / "capture").mkdir()
    fleet_windows.write(folder / "capture" / f"{MODEL}.npz", capture(physical(CAPTURED, 5), 0.0, served.name))
    with running(served, capture_windows=CAPTURED, capture_rate=1e-9, capture_dir=folder / "capture") as s:
        edgeinfer = start_standin(USE_REAL_MODEL="true", MODEL_BACKEND_URL=f"{s.url}/infer", STANDIN_READ_TIMEOUT_MS="2000")
        for _ in range(5):  # before the rollout: not in the record's increase
            edgeinfer.analyze(WINDOW)
        before = _read(s, edgeinfer)
        for _ in range(12):
            edgeinfer.analyze(WINDOW)
        switch = {"release_dir": str(new), "live_gate": True}
        switched = httpx.post(f"http://127.0.0.1:{s.control_port}/control/switch", json=switch, timeout=300)
        assert switched.json()["switched"] is True, switched.text
        for _ in range(SENT_DURING - 12):
            edgeinfer.analyze(WINDOW)
        after = _read(s, edgeinfer) | {"healthz": httpx.get(f"{s.url}/healthz").json()}
    return record("edge-01", before, after, served.name, new.name, canary=True)
