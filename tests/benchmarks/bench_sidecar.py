"""Benchmark of the sidecar against issue #5's targets, on this machine, in one run and one process tree.

Builds the example TCN bundle (the real model's size), measures raw per window (in process, no HTTP),
starts `hailo-pipeline serve` on it (ONNX Runtime backend, 1 thread, as raw), then drives it over HTTP:

  1 client (as EdgeInfer calls)   p50 <= raw + 1 ms, p99 <= raw + 3 ms
  16 clients                      throughput >= 70 % of raw in-process, p99 < 45 ms (EdgeInfer's read timeout)
  RSS after 20 000 requests       < 300 MB, and not growing over the next 20 000

Usage: .venv/bin/python -m tests.benchmarks.bench_sidecar
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson

from hailo_pipeline.clients.bench import bench, request_window
from tests.benchmarks.benchlib import example_release, in_process_ms, rss_mb, serving

WINDOW = request_window()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        release = example_release(Path(tmp))
        raw = in_process_ms(release)
        with serving(release) as (url, server):
            body = orjson.dumps({"x": WINDOW.tolist()})
            bench(url, body, 1, 500)  # warm-up
            one = bench(url, body, 1, 3000)
            sixteen = bench(url, body, 16, 8000)
            bench(url, body, 16, 20_000 - 11_500)
            rss_20k = rss_mb(server.pid)
            bench(url, body, 16, 20_000)
            rss_40k = rss_mb(server.pid)
    raw_throughput = 1000 / raw
    rows = [
        ("raw: in process, per window, no HTTP", f"{raw:.3f} ms", ""),
        ("1 client: p50", f"{one.p50_ms:.3f} ms", f"raw + {one.p50_ms - raw:.3f} ms (target <= +1 ms)"),
        ("1 client: p99", f"{one.p99_ms:.3f} ms", f"raw + {one.p99_ms - raw:.3f} ms (target <= +3 ms)"),
        (
            "16 clients: throughput",
            f"{sixteen.throughput:.0f} req/s",
            f"{sixteen.throughput / raw_throughput:.0%} of raw {raw_throughput:.0f}/s (target >= 70 %)",
        ),
        ("16 clients: p99", f"{sixteen.p99_ms:.2f} ms", "target < 45 ms"),
        ("errors over all runs", str(sum(r.requests - r.ok for r in (one, sixteen))), "target 0"),
        ("RSS after 20 000 requests", f"{rss_20k:.0f} MB", "target < 300 MB"),
        ("RSS after 40 000 requests", f"{rss_40k:.0f} MB", f"growth {rss_40k - rss_20k:+.1f} MB"),
    ]
    for name, figure, note in rows:
        print(f"{name:42} {figure:>14}  {note}")


if __name__ == "__main__":
    main()
