"""What adding and removing a model in the running sidecar costs EdgeInfer (issue #39), on this machine, in one run.

`hailo-pipeline serve` on a models folder as a host keeps it (HAILO_MODELS_DIR: current-tcn-encoder, the example
encoder EdgeInfer's /infer answers with); a poller like EdgeInfer's calls /infer POLL_HZ times a second with
EdgeInfer's 45 ms read timeout and a real EdgeInfer body, while the FSQ classifier is added through the control
route (POST /control/switch) and removed again (POST /control/remove). Each phase counts the calls from its action's
start to SETTLE_S after its end: refused (any answer but 200) and timeouts. Target: 0 refused, at most 1 % timeouts.

Usage: .venv/bin/python -m tests.benchmarks.bench_model_set
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.benchmarks.benchlib import REPO, example_fsq_release, example_release, free_port, serving

POLL_HZ = 20
READ_TIMEOUT_S = 0.045  # EdgeInfer's (Vapor's) read timeout on MODEL_BACKEND_URL
SETTLE_S = 5.0
BODY = (REPO / "tests/fixtures/edgeinfer-samples/realistic_imu_sample.json").read_bytes()


@contextmanager
def polling(url: str) -> Iterator[list[tuple[float, str]]]:
    """EdgeInfer's calls, one every 1/POLL_HZ s on a fixed schedule: (when it started, "200" | status | "timeout")."""
    calls: list[tuple[float, str]] = []
    stop = threading.Event()

    def poll() -> None:
        with httpx.Client(timeout=READ_TIMEOUT_S) as client:
            due = time.monotonic()
            while not stop.is_set():
                started = time.monotonic()
                try:
                    outcome = str(client.post(url, content=BODY, headers={"Content-Type": "application/json"}).status_code)
                except httpx.TimeoutException:
                    outcome = "timeout"
                calls.append((started, outcome))
                due += 1 / POLL_HZ
                time.sleep(max(0.0, due - time.monotonic()))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield calls
    finally:
        stop.set()
        thread.join(5)


def phase(calls: list[tuple[float, str]], act: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Runs `act`, waits SETTLE_S, and counts the calls started meanwhile."""
    started = time.monotonic()
    answer = act()
    took = time.monotonic() - started
    time.sleep(SETTLE_S)
    outcomes = [(at - started, outcome) for at, outcome in calls if at >= started]
    return {
        "calls": len(outcomes),
        "refused": sum(outcome not in ("200", "timeout") for _, outcome in outcomes),
        "timeouts": sum(outcome == "timeout" for _, outcome in outcomes),
        "timed_out_at_s": [round(at, 2) for at, outcome in outcomes if outcome == "timeout"],  # after the action's start
        "seconds": round(took, 3),
        "answer": answer,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        models.mkdir()
        tcn, fsq = example_release(Path(tmp) / "tcn"), example_fsq_release(Path(tmp) / "fsq")
        (models / "current-tcn-encoder").symlink_to(tcn)
        control = f"http://127.0.0.1:{free_port()}"
        with serving(HAILO_MODELS_DIR=str(models), CONTROL_PORT=control.rpartition(":")[2]) as (url, _), polling(url) as calls:

            def post(route: str, doc: dict[str, str]) -> dict[str, Any]:
                reply = httpx.post(f"{control}/control/{route}", json=doc, timeout=120)
                reply.raise_for_status()
                return dict(reply.json())

            results = {
                "steady": phase(calls, lambda: {}),
                "add": phase(calls, lambda: post("switch", {"release_dir": str(fsq)})),
                "remove": phase(calls, lambda: post("remove", {"model": "conv2d-fsq"})),
            }
    print(f"EdgeInfer's poll: {POLL_HZ} calls/s to /infer, {READ_TIMEOUT_S * 1000:.0f} ms read timeout; {os.cpu_count()} CPUs")
    for name, r in results.items():
        share = r["timeouts"] / r["calls"] * 100 if r["calls"] else 0.0
        print(
            f"  {name:7} {r['calls']:4d} calls  refused {r['refused']:3d}  timeouts {r['timeouts']:3d} ({share:.1f} %)  "
            f"action {r['seconds']:.3f} s  timeouts at {r['timed_out_at_s']} s  {r['answer']}"
        )


if __name__ == "__main__":
    main()
