"""Goodput under overload (issue #16): answers per second and answered p99 at 16, 32, 64 and 128 closed-loop
clients against the sidecar's capacity, on this machine, in one run.

wrk (Debian package; one thread, so the load costs the 2 cores little) holds N-1 keep-alive connections
closed-loop and counts answers by status (post_counting_statuses.lua beside it); one more client, `hailo-pipeline
bench`'s, is the probe: it measures the latency of each of its own answered requests, which wait in the same
line as everyone's. Capacity is the in-process rate of the device process's work, one window at a time.

Targets: at 64 clients (4x what 16 need) answers/s >= 80 % of the 16-client figure, answered p99 < 45 ms,
refusals immediate 503s.

Usage: .venv/bin/python -m tests.benchmarks.bench_overload [--seconds 15]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import orjson

from hailo_pipeline.clients.bench import BenchResult, bench, request_window
from tests.benchmarks.benchlib import example_release, in_process_ms, serving, wrk

JSON = "Content-Type: application/json"  # EdgeInfer's
CLIENTS = (16, 32, 64, 128)


def point(url: str, body_file: Path, clients: int, seconds: int) -> dict[str, float]:
    """wrk with clients-1 connections plus one probe client for `seconds`."""
    probes: list[BenchResult] = []
    stop = time.monotonic() + seconds

    def probe() -> None:
        time.sleep(1)  # wrk's connections are open
        while time.monotonic() < stop - 1:
            probes.append(bench(url, body_file.read_bytes(), 1, 50))

    thread = threading.Thread(target=probe)
    thread.start()
    run = wrk(url, clients - 1, seconds, body_file, JSON)
    thread.join()
    answered_ms = np.asarray([ms for p in probes for ms in p.answered_ms])
    return {
        "clients": clients,
        "answers_per_s": (run["answers"] + sum(p.ok for p in probes)) / run["seconds"],
        "refused_503_per_s": run["refused_per_s"],
        "other_statuses": run["other"],
        "probe_answered": int(answered_ms.size),
        "answered_p99_ms": float(np.percentile(answered_ms, 99)) if answered_ms.size else float("nan"),
        "all_p99_ms": run["p99_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15, help="per client count")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: scripts/bootstrap installs it (Debian package wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        release = example_release(Path(tmp))
        capacity = 1000 / in_process_ms(release)
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(orjson.dumps({"x": request_window().tolist()}))
        with serving(release) as (url, _):
            point(url, body_file, 16, 3)  # warm-up
            results = [point(url, body_file, n, args.seconds) for n in CLIENTS]
    base = results[0]["answers_per_s"]
    print(f"capacity: {capacity:.0f} windows/s (in process, one at a time, no HTTP)")
    print(f"{'clients':>7} {'answers/s':>10} {'of 16':>6} {'of cap.':>7} {'503/s':>8} {'answered p99':>13} {'all p99':>8} {'other':>5}")
    for r in results:
        print(
            f"{r['clients']:>7} {r['answers_per_s']:>10.0f} {r['answers_per_s'] / base:>6.0%} {r['answers_per_s'] / capacity:>7.0%} "
            f"{r['refused_503_per_s']:>8.0f} {r['answered_p99_ms']:>10.1f} ms {r['all_p99_ms']:>5.1f} ms {r['other_statuses']:>5}"
        )
    at_64 = next(r for r in results if r["clients"] == 64)
    print(
        f"64 clients: {at_64['answers_per_s'] / base:.0%} of 16 clients' answers/s (target >= 80 %), "
        f"answered p99 {at_64['answered_p99_ms']:.1f} ms (target < 45 ms; {at_64['probe_answered']} probe answers)"
    )


if __name__ == "__main__":
    main()
