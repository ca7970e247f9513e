"""What the canary's live-window gate adds to a switch (issue #41): seconds of `POST /control/switch` to a release
with and without live_gate, on this machine, in one run.

`hailo-pipeline serve` on the example encoder (the real TCN's size, ONNX Runtime, 1 thread), its capture holding
WINDOWS captured windows. It is switched round three releases of the encoder, so that every switch loads one (warm-up
and golden check included), gated and not gated in turn, ROUNDS times each. On ONNX Runtime the gate runs each
window twice on the CPU (the release, then its FP32 ONNX as the reference); on a Pi the release runs on the
Hailo-8 and only the reference on the CPU, so this is an upper bound for the same CPU.

Target: the gate adds at most 30 s to a canary's rollout.

Usage: .venv/bin/python -m tests.benchmarks.bench_live_gate [--windows 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from hailo_pipeline.bundle import fleet_windows
from tests.benchmarks.benchlib import example_release, free_port, serving
from tests.support.fleet_data import capture, physical


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=2000, help="captured windows the gate judges")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()
    seconds: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        releases = [example_release(Path(tmp) / version, version) for version in ("1.0.0", "1.0.1", "1.0.2")]
        folder = Path(tmp) / "capture"
        folder.mkdir()
        fleet_windows.write(folder / "tcn-encoder.npz", capture(physical(args.windows, 7), time.time(), "earlier"))
        control = free_port()
        capturing = serving(
            releases[0], CONTROL_PORT=str(control), CAPTURE_WINDOWS=str(args.windows), CAPTURE_RATE="0.000001", CAPTURE_DIR=str(folder)
        )
        with capturing:
            said = ""
            for turn in range(2 * args.rounds):
                gated = turn % 2 == 0
                release = releases[(turn + 1) % 3]
                started = time.perf_counter()
                answer = httpx.post(
                    f"http://127.0.0.1:{control}/control/switch", json={"release_dir": str(release), "live_gate": gated}, timeout=600
                ).json()
                seconds[gated].append(time.perf_counter() - started)
                if not answer.get("loaded"):
                    raise SystemExit(f"the switch to {release.name} did not load it: {answer}")
                if gated:
                    said = answer["live_gate"]["said"]
    with_gate, without = statistics.median(seconds[True]), statistics.median(seconds[False])
    print(f"a switch that loads a release, median of {args.rounds} each, {args.windows} captured windows:")
    print(f"  with the live-window gate    {with_gate:6.2f} s  ({', '.join(f'{s:.2f}' for s in seconds[True])})")
    print(f"  without                      {without:6.2f} s  ({', '.join(f'{s:.2f}' for s in seconds[False])})")
    print(f"the gate adds {with_gate - without:.2f} s (target <= 30 s a canary); it said: {said}")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
