"""What the input guard costs (issue #40): answers per second and median latency at 16 closed-loop clients with the
guard on and off, on this machine, in one run.

Two `hailo-pipeline serve` processes on the example encoder (the real TCN's size, ONNX Runtime, 1 thread), one with
INPUT_GUARD=true and one with INPUT_GUARD=false, take EdgeInfer's realistic sample on /infer in turn: wrk (one thread,
16 connections, post_counting_statuses.lua beside it) runs each ROUNDS times in alternation, so that drift on the
machine falls on both; the figures are the medians over the rounds. Before the load, the guard's own work per window
(InputGuard.observe on the sample, its batched count included) is timed in this process, which the machine's load
disturbs least. After it, the guarded sidecar must have judged the windows (gx, gy, gz flagged: the sample is in
deg/s) and the other must have no guard, or the comparison proves nothing.

Targets: guard on >= 97 % of guard off's answers/s, and its median latency at most 0.05 ms above.

Usage: .venv/bin/python -m tests.benchmarks.bench_input_guard [--rounds 5] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import timeit
from pathlib import Path

import httpx
import numpy as np

from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.bundle.input_guard import InputGuard, read_envelope
from tests.benchmarks.benchlib import REPO, example_release, serving

LUA = Path(__file__).with_name("post_counting_statuses.lua")
SAMPLE = REPO / "tests/fixtures/edgeinfer-samples/realistic_imu_sample.json"
CLIENTS = 16
FIGURES = ("answers_per_s", "refused_per_s", "p50_ms", "p99_ms")  # wrk's latencies: every answer, 503s too


def guard_us(release: Path) -> float:
    """Microseconds of the guard's work per window on EdgeInfer's sample, in this process (the best of 5 x 6400)."""
    guard = InputGuard(read_envelope(manifest_io.read(release)))
    window = np.asarray(json.loads(SAMPLE.read_text())["x"], np.float32)
    return min(timeit.repeat(lambda: guard.observe(window), number=6400, repeat=5)) / 6400 * 1e6


def load(url: str, body_file: Path, seconds: int) -> dict[str, float]:
    """wrk with CLIENTS connections for `seconds` on EdgeInfer's sample."""
    done = subprocess.run(
        ["wrk", "-t1", f"-c{CLIENTS}", f"-d{seconds}s", "--timeout", "2s", "-s", str(LUA), url, "--", str(body_file),
         "Content-Type: application/json"],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    run = json.loads(done.stdout.strip().splitlines()[-1])
    statuses = {int(k): v for k, v in run["statuses"].items()}
    other = sum(v for k, v in statuses.items() if k not in (200, 503)) + run["socket_errors"]
    return {
        "answers_per_s": statuses.get(200, 0) / run["seconds"],
        "refused_per_s": statuses.get(503, 0) / run["seconds"],
        "other": other,
    } | {f: run[f] for f in FIGURES[2:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10, help="of 16-connection load per run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: scripts/bootstrap installs it (Debian package wrk)")
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory() as tmp:
        release = example_release(Path(tmp) / "tcn")
        per_window_us = guard_us(release)
        body = Path(tmp) / "sample.json"
        body.write_bytes(SAMPLE.read_bytes())
        with serving(release, INPUT_GUARD="true") as (on_url, _), serving(release, INPUT_GUARD="false") as (off_url, _):
            urls = {"on": on_url, "off": off_url}
            for url in urls.values():
                load(url, body, 2)  # warm-up
            for _ in range(args.rounds):
                for mode, url in urls.items():
                    runs[mode].append(load(url, body, args.seconds))
            guarded = httpx.get(on_url.removesuffix("/infer") + "/healthz").json()
            unguarded = httpx.get(off_url.removesuffix("/infer") + "/healthz").json()
    flagged = sorted(warning.split()[0] for warning in guarded.get("input", []))
    if not {"gx", "gy", "gz"} <= set(flagged) or "input" in unguarded:
        raise SystemExit(f"the guard did not judge as set: on says {guarded.get('input')}, off says {unguarded.get('input')}")
    other = sum(r["other"] for rs in runs.values() for r in rs)
    median = {mode: {f: statistics.median(r[f] for r in rs) for f in FIGURES} for mode, rs in runs.items()}
    print(f"{CLIENTS} connections on /infer (EdgeInfer's realistic sample), medians of {args.rounds} alternating {args.seconds} s runs")
    print(f"{'guard':<6} {'answers/s':>10} {'503/s':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for mode, m in median.items():
        print(f"{mode:<6} {m['answers_per_s']:>10.0f} {m['refused_per_s']:>6.0f} {m['p50_ms']:>8.3f} {m['p99_ms']:>8.3f}")
    on, off = median["on"], median["off"]
    print(f"the guard's own work per window, in process: {per_window_us:.1f} us")
    print(f"guard on/off answers/s {on['answers_per_s'] / off['answers_per_s']:.1%} (target >= 97 %)")
    print(f"guard on - off p50 {on['p50_ms'] - off['p50_ms']:+.3f} ms (target <= 0.05 ms), p99 {on['p99_ms'] - off['p99_ms']:+.3f} ms")
    print(f"the guarded sidecar flagged: {', '.join(flagged)}; answers other than 200 and 503, socket errors: {other} (target 0)")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
