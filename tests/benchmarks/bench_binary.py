"""Binary tensors against JSON over the Open Inference Protocol (issue #39): requests per second and latency
percentiles at 16 closed-loop connections, on this machine, in one run against one sidecar.

`hailo-pipeline serve` on both examples (the TCN at the real model's size and the Conv2d-FSQ classifier, ONNX
Runtime, 1 thread). The bodies are what tritonclient.http sends: its defaults (the input as binary data, every
output asked for as binary data) and the same request all JSON (binary_data=False on the input and on every
output). Each answer is checked against the other's before the load, and the route's own work per request (parse
the body, encode the answer; no HTTP, no device) is timed in this process, which the machine's load disturbs
least. wrk (one thread, 16 connections, post_counting_statuses.lua beside it) then runs JSON and binary in
alternation, ROUNDS times per model, so that drift on the machine falls on both; the figures are the medians over
the rounds.

Target: binary answers/s at least JSON's (ratio >= 100 %).

Usage: .venv/bin/python -m tests.benchmarks.bench_binary [--rounds 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import timeit
from pathlib import Path

import httpx
import numpy as np
import tritonclient.http as triton

from hailo_pipeline.serve.host.device_host import Loaded
from hailo_pipeline.serve.host.models import Model
from hailo_pipeline.serve.http import binary_tensors, oip
from hailo_pipeline.serve.messages import DeviceAccess, LoadRequest
from tests.benchmarks.benchlib import example_fsq_release, example_release, serving, wrk

CLIENTS = 16
FIGURES = ("answers_per_s", "refused_per_s", "p50_ms", "p90_ms", "p99_ms")  # wrk's latencies: every answer, 503s too


def request_bodies(url: str, model: str, folder: Path) -> dict[str, tuple[Path, int | None]]:
    """The model's JSON and binary request bodies as files, with the binary one's JSON length; each checked to
    answer exactly what the other answers."""
    meta = httpx.get(f"{url}/v2/models/{model}").json()
    shape, outputs = meta["inputs"][0]["shape"], [o["name"] for o in meta["outputs"]]
    window = (np.random.default_rng(0).normal(0, 0.5, shape) + np.asarray([0, 0, 9.8, 0, 0, 0, 30, 0, -40])).astype(np.float32)
    bodies: dict[str, tuple[Path, int | None]] = {}
    results = {}
    for mode, binary in (("json", False), ("binary", True)):
        tensor = triton.InferInput("imu_window", shape, "FP32").set_data_from_numpy(window, binary_data=binary)
        asked = None if binary else [triton.InferRequestedOutput(name, binary_data=False) for name in outputs]
        body, json_size = triton.InferenceServerClient.generate_request_body([tensor], outputs=asked)
        bodies[mode] = (folder / f"{model}-{mode}.body", json_size)
        bodies[mode][0].write_bytes(body)
        headers = {} if json_size is None else {"Inference-Header-Content-Length": str(json_size)}
        reply = httpx.post(f"{url}/v2/models/{model}/infer", content=body, headers=headers, timeout=10)
        assert reply.status_code == 200, reply.text
        length = reply.headers.get("inference-header-content-length")
        results[mode] = triton.InferenceServerClient.parse_response_body(reply.content, header_length=length and int(length))
    for name in outputs:
        np.testing.assert_array_equal(results["binary"].as_numpy(name), results["json"].as_numpy(name))
    return bodies


def route_us(url: str, model: str, bodies: dict[str, tuple[Path, int | None]]) -> dict[str, float]:
    """Microseconds of the route's own work per request, each mode: oip.parse_inputs and oip.answer on the model
    as the sidecar serves it, in this process (the best of 5 x 1000)."""
    meta = httpx.get(f"{url}/v2/models/{model}").json()
    shape = meta["inputs"][0]["shape"]
    answers = [[o["name"], o["shape"][1], o["datatype"]] for o in meta["outputs"]]
    info = {"name": model, "backend": "onnxruntime", "input": {"name": meta["inputs"][0]["name"], "shape": shape}, "answers": answers}
    request = LoadRequest(Path(meta["versions"][0]), "onnxruntime", DeviceAccess(Path("/nonexistent")), 1, 1000)
    loaded, served = Loaded(0, request, meta["versions"][0], shape[2], info), Model(model, request.release_dir)
    values = np.zeros(sum(size for _, size, _ in answers), np.float32)
    took = {}
    for mode, (body_file, json_size) in bodies.items():
        body, header_length = body_file.read_bytes(), None if json_size is None else str(json_size)

        def once(body: bytes = body, header_length: str | None = header_length) -> None:
            _, outputs, request_id = oip.parse_inputs(body, served, loaded, header_length)
            oip.answer(served, loaded, values, outputs, request_id)

        took[mode] = min(timeit.repeat(once, number=1000, repeat=5)) * 1000
    return took


def load(url: str, body_file: Path, json_size: int | None, seconds: int) -> dict[str, float]:
    """wrk with CLIENTS connections for `seconds` on one body, with no Content-Type, as tritonclient sends it."""
    return wrk(url, CLIENTS, seconds, body_file, *([] if json_size is None else [f"{binary_tensors.HEADER}: {json_size}"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="of 16-connection load per run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: scripts/bootstrap installs it (Debian package wrk)")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tcn, fsq = example_release(Path(tmp) / "tcn"), example_fsq_release(Path(tmp) / "fsq")
        with serving(tcn, fsq) as (infer_url, _):
            url = infer_url.removesuffix("/infer")
            models = sorted(httpx.get(f"{url}/healthz").json()["models"])
            runs: dict[tuple[str, str], list[dict[str, float]]] = {}
            in_process = {}
            for model in models:
                bodies = request_bodies(url, model, Path(tmp))
                in_process[model] = route_us(url, model, bodies)
                target = f"{url}/v2/models/{model}/infer"
                load(target, *bodies["binary"], 2)  # warm-up
                for _ in range(args.rounds):
                    for mode in ("json", "binary"):
                        runs.setdefault((model, mode), []).append(load(target, *bodies[mode], args.seconds))
    other = sum(r["other"] for rs in runs.values() for r in rs)
    median = {key: {f: statistics.median(r[f] for r in rs) for f in FIGURES} for key, rs in runs.items()}
    print(f"{CLIENTS} connections, medians of {args.rounds} alternating {args.seconds} s runs per mode")
    print(f"{'model':<12} {'mode':<7} {'answers/s':>10} {'503/s':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
    for model, mode in runs:
        m = median[(model, mode)]
        print(
            f"{model:<12} {mode:<7} {m['answers_per_s']:>10.0f} {m['refused_per_s']:>6.0f} "
            f"{m['p50_ms']:>8.2f} {m['p90_ms']:>8.2f} {m['p99_ms']:>8.2f}"
        )
    for model in models:
        binary, plain = median[(model, "binary")], median[(model, "json")]
        json_us, binary_us = in_process[model]["json"], in_process[model]["binary"]
        print(f"{model}: the route's own work per request, in process: JSON {json_us:.0f} us, binary {binary_us:.0f} us")
        print(
            f"{model}: binary/JSON answers/s {binary['answers_per_s'] / plain['answers_per_s']:.1%} (target >= 100 %), "
            f"p50 {binary['p50_ms'] / plain['p50_ms']:.1%}, p99 {binary['p99_ms'] / plain['p99_ms']:.1%}"
        )
    print(f"answers other than 200 and 503, socket errors: {other} (target 0)")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
