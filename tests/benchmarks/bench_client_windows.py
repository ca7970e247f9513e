"""What the work on answered client windows costs (issues #40 and #41): answers per second and median latency at 16
closed-loop clients with neither, the input guard, and the input guard with the capture, on this machine, in one run.

Three `hailo-pipeline serve` processes on the example encoder (the real TCN's size, ONNX Runtime, 1 thread): `off`
(INPUT_GUARD=false), `guard` (INPUT_GUARD=true) and `capture` (the guard, and CAPTURE_WINDOWS=2000 at CAPTURE_RATE,
its folder a temporary one, written every 5 s), take EdgeInfer's realistic sample on /infer in turn: wrk (one
thread, 16 connections, post_counting_statuses.lua beside it) runs each ROUNDS times in alternation, so that drift
on the machine falls on all; the figures are the medians over the rounds. Before the load, the guard's and the
capture's own work per window are timed in this process, which the machine's load disturbs least. After it, the
guard must have judged the windows (gx, gy, gz flagged: the sample is in deg/s), `off` must have no guard, and the
capture must have taken windows and written them, or the comparison proves nothing.

Targets: the guard >= 97 % of `off`'s answers/s and its median latency at most 0.05 ms above (#40); the capture
>= 98 % of `guard`'s answers/s (#41).

Usage: .venv/bin/python -m tests.benchmarks.bench_client_windows [--rounds 5] [--seconds 10] [--rate 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import timeit
from pathlib import Path

import httpx
import numpy as np

from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.bundle.input_guard import InputGuard, read_envelope
from hailo_pipeline.serve.host.capture import Captures, Layout
from tests.benchmarks.benchlib import REPO, example_release, serving, wrk

SAMPLE = REPO / "tests/fixtures/edgeinfer-samples/realistic_imu_sample.json"
CLIENTS = 16
CAPTURE_WINDOWS = 2000
FIGURES = ("answers_per_s", "refused_per_s", "p50_ms", "p99_ms")  # wrk's latencies: every answer, 503s too


def own_work_us(release: Path, rate: float, folder: Path) -> dict[str, float]:
    """Microseconds of the guard's and the capture's work per window on EdgeInfer's sample, in this process (the best
    of 5 x 6400; the capture at `rate`, its sample full, as on a Pi that has run a while)."""
    manifest = manifest_io.read(release)
    window = np.asarray(json.loads(SAMPLE.read_text())["x"], np.float32)[None]
    guard = InputGuard(read_envelope(manifest))
    captures = Captures(folder, CAPTURE_WINDOWS, rate, 3600, lambda _: None)
    layout = Layout.of_release(manifest, window.shape)
    captures.serve(str(manifest["name"]), 1, release.name, layout, ("m/s^2",) * 3 + ("deg/s",) * 3 + ("uT",) * 3)
    for _ in range(int(CAPTURE_WINDOWS / rate) * 2):
        captures.offer(1, window)
    return {
        "guard": min(timeit.repeat(lambda: guard.observe(window), number=6400, repeat=5)) / 6400 * 1e6,
        "capture": min(timeit.repeat(lambda: captures.offer(1, window), number=6400, repeat=5)) / 6400 * 1e6,
    }


def load(url: str, body_file: Path, seconds: int) -> dict[str, float]:
    """wrk with CLIENTS connections for `seconds` on EdgeInfer's sample."""
    return wrk(url, CLIENTS, seconds, body_file, "Content-Type: application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10, help="of 16-connection load per run")
    parser.add_argument("--rate", type=float, default=0.05, help="CAPTURE_RATE of the capture's sidecar")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: scripts/bootstrap installs it (Debian package wrk)")
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {"off": [], "guard": [], "capture": []}
    with tempfile.TemporaryDirectory() as tmp:
        release = example_release(Path(tmp) / "tcn")
        (Path(tmp) / "timed").mkdir()
        per_window_us = own_work_us(release, args.rate, Path(tmp) / "timed")
        body, capture_dir = Path(tmp) / "sample.json", Path(tmp) / "capture"
        body.write_bytes(SAMPLE.read_bytes())
        capture_dir.mkdir()
        with (
            serving(release, INPUT_GUARD="false") as (off_url, _),
            serving(release, INPUT_GUARD="true") as (guard_url, _),
            serving(
                release,
                INPUT_GUARD="true",
                CAPTURE_WINDOWS=str(CAPTURE_WINDOWS),
                CAPTURE_RATE=str(args.rate),
                CAPTURE_DIR=str(capture_dir),
                CAPTURE_FLUSH_S="5",
            ) as (capture_url, _),
        ):
            urls = {"off": off_url, "guard": guard_url, "capture": capture_url}
            for url in urls.values():
                load(url, body, 2)  # warm-up
            for _ in range(args.rounds):
                for mode, url in urls.items():
                    runs[mode].append(load(url, body, args.seconds))
            health = {mode: httpx.get(url.removesuffix("/infer") + "/healthz").json() for mode, url in urls.items()}
        written = sorted(p.name for p in capture_dir.iterdir())  # the last write when its sidecar stopped
        with np.load(capture_dir / f"{health['capture']['edgeinfer_model']}.npz") as stored:
            kept = len(stored["windows"])
    flagged = sorted(warning.split()[0] for warning in health["guard"].get("input", []))
    if not {"gx", "gy", "gz"} <= set(flagged) or "input" in health["off"]:
        raise SystemExit(
            f"the guard did not judge as set: guard says {health['guard'].get('input')}, off says {health['off'].get('input')}"
        )
    if written != [f"{health['capture']['edgeinfer_model']}.npz"] or not kept:
        raise SystemExit(f"the capture wrote {written} ({kept} windows), not its model's sample")
    other = sum(r["other"] for rs in runs.values() for r in rs)
    median = {mode: {f: statistics.median(r[f] for r in rs) for f in FIGURES} for mode, rs in runs.items()}
    print(f"{CLIENTS} connections on /infer (EdgeInfer's realistic sample), medians of {args.rounds} alternating {args.seconds} s runs")
    print(f"{'mode':<8} {'answers/s':>10} {'503/s':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for mode, m in median.items():
        print(f"{mode:<8} {m['answers_per_s']:>10.0f} {m['refused_per_s']:>6.0f} {m['p50_ms']:>8.3f} {m['p99_ms']:>8.3f}")
    off, guard, captured = median["off"], median["guard"], median["capture"]
    print(f"own work per window, in process: the guard {per_window_us['guard']:.1f} us, the capture {per_window_us['capture']:.1f} us")
    print(f"guard/off answers/s {guard['answers_per_s'] / off['answers_per_s']:.1%} (target >= 97 %)")
    print(f"guard - off p50 {guard['p50_ms'] - off['p50_ms']:+.3f} ms (target <= 0.05 ms), p99 {guard['p99_ms'] - off['p99_ms']:+.3f} ms")
    print(
        f"capture/guard answers/s {captured['answers_per_s'] / guard['answers_per_s']:.1%} (target >= 98 %; CAPTURE_RATE {args.rate}), "
        f"p50 {captured['p50_ms'] - guard['p50_ms']:+.3f} ms"
    )
    print(f"the guard flagged: {', '.join(flagged)}; the capture kept {kept} windows in {', '.join(written)}")
    print(f"answers other than 200 and 503, socket errors: {other} (target 0)")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
