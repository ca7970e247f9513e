"""A second model beside EdgeInfer's (issue #17): /infer latency and throughput with the Conv2d-FSQ classifier
loaded and idle, against the TCN alone, on this machine, in one run.

The two sidecars (`hailo-pipeline serve TCN` and `serve TCN FSQ`, ONNX Runtime, 1 thread) run one after the
other, ROUNDS times each in alternation, so that drift on the machine falls on both. Per run: 1 client (as
EdgeInfer calls, `hailo-pipeline bench`) for latency, and 16 closed-loop clients (wrk, one thread, plus one
probe client: bench_overload.point) for throughput. The figures are the medians over the rounds.

Target: with the second model loaded and idle, p50/p99 at 1 client and answers/s at 16 within 5 % of the TCN alone.

Usage: .venv/bin/python -m tests.benchmarks.bench_models [--rounds 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

import httpx
import orjson

from hailo_pipeline.clients.bench import bench, request_window
from tests.benchmarks.bench_overload import point
from tests.benchmarks.benchlib import example_fsq_release, example_release, serving


def measure(releases: tuple[Path, ...], body_file: Path, seconds: int) -> dict[str, float]:
    with serving(*releases) as (url, _):
        models = sorted(httpx.get(url.replace("/infer", "/healthz")).json()["models"])
        body = body_file.read_bytes()
        bench(url, body, 1, 500)  # warm-up
        one = bench(url, body, 1, 3000)
        sixteen = point(url, body_file, 16, seconds)
    return {"models": len(models), "p50_ms": one.p50_ms, "p99_ms": one.p99_ms, "answers_per_s": sixteen["answers_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="of 16-client load per run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: scripts/bootstrap installs it (Debian package wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        tcn, fsq = example_release(Path(tmp) / "tcn"), example_fsq_release(Path(tmp) / "fsq")
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(orjson.dumps({"x": request_window().tolist()}))
        runs: dict[str, list[dict[str, float]]] = {"alone": [], "beside": []}
        for _ in range(args.rounds):
            runs["alone"].append(measure((tcn,), body_file, args.seconds))
            runs["beside"].append(measure((tcn, fsq), body_file, args.seconds))
    assert [r["models"] for r in runs["alone"] + runs["beside"]] == [1] * args.rounds + [2] * args.rounds
    median = {k: {f: statistics.median(r[f] for r in v) for f in ("p50_ms", "p99_ms", "answers_per_s")} for k, v in runs.items()}
    print(f"{'/infer':<28} {'TCN alone':>10} {'TCN + FSQ':>10} {'ratio':>6}   (medians of {args.rounds} alternating runs)")
    for field, label in (("p50_ms", "1 client p50 (ms)"), ("p99_ms", "1 client p99 (ms)"), ("answers_per_s", "16 clients answers/s")):
        alone, beside = median["alone"][field], median["beside"][field]
        print(f"{label:<28} {alone:>10.2f} {beside:>10.2f} {beside / alone:>6.1%}")
    print("target: each ratio within 95-105 % (latency may be lower, throughput higher)")


if __name__ == "__main__":
    main()
