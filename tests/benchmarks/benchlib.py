"""What the sidecar benchmarks share: the example bundle at the real model's size, `hailo-pipeline serve` on it
in its own process, its memory, and wrk's closed-loop load counted by status."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from hailo_pipeline.builder.pipeline import build
from hailo_pipeline.clients.bench import request_window
from hailo_pipeline.model.examples import example_checkpoint
from hailo_pipeline.serve.device.engine import load_engine
from hailo_pipeline.serve.messages import DeviceAccess

# The CLI of the interpreter running the benchmark, whether or not its venv is activated.
CLI = str(Path(sys.executable).with_name("hailo-pipeline"))
REPO = Path(__file__).resolve().parents[2]
WRK_SCRIPT = Path(__file__).with_name("post_counting_statuses.lua")


def example_release(folder: Path, version: str = "1.0.0") -> Path:
    """The bundled example spec (the real TCN's size) on the seeded example checkpoint, built into folder/out."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tcn.pt").write_bytes(example_checkpoint("tcn_encoder"))
    spec = yaml.safe_load((REPO / "files/examples/tcn_encoder.yaml").read_text())
    spec["source"]["checkpoint"] = str(folder / "tcn.pt")
    spec["version"] = version
    (folder / f"spec-{version}.yaml").write_text(yaml.safe_dump(spec))
    return build(folder / f"spec-{version}.yaml", folder / "out").release_dir


def example_fsq_release(folder: Path) -> Path:
    """The Conv2d-FSQ classifier (model conv2d-fsq) on its seeded example checkpoint, built into folder/out."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fsq.pt").write_bytes(example_checkpoint("conv2d_fsq"))
    spec = yaml.safe_load((REPO / "files/examples/tcn_encoder.yaml").read_text())
    spec |= {"name": "conv2d-fsq", "source": {"arch": "conv2d_fsq", "checkpoint": str(folder / "fsq.pt")}}
    (folder / "spec-fsq.yaml").write_text(yaml.safe_dump(spec))
    return build(folder / "spec-fsq.yaml", folder / "out").release_dir


def in_process_ms(release: Path, runs: int = 3000) -> float:
    """Milliseconds per window of what the device process does for one request (normalization, ONNX Runtime on one
    thread, the motif head), in this process, one window at a time: the sidecar's capacity without HTTP."""
    engine = load_engine(release, "onnxruntime", DeviceAccess(Path("/nonexistent")), 1, 1000)
    window = request_window()[None]  # one stream: (1, T, 9)
    for _ in range(200):
        engine.infer(window)
    started = time.perf_counter()
    for _ in range(runs):
        engine.infer(window)
    return (time.perf_counter() - started) / runs * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(*releases: Path, port: int = 0, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`hailo-pipeline serve` on ONNX Runtime (1 thread) on a loopback port (default a free one), one model per
    release: (its /infer URL, the process)."""
    port = port or free_port()
    full_env = {**os.environ, "ORT_THREADS": "1", "HAILO_BACKEND": "onnxruntime", "LOG_LEVEL": "warning", **env}
    full_env.setdefault("CONTROL_PORT", str(free_port()))
    server = subprocess.Popen([CLI, "serve", *map(str, releases), "--host", "127.0.0.1", "--port", str(port)], env=full_env)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"hailo-pipeline serve exited with {server.returncode}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/infer", server
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the sidecar's device process), in MB."""
    pids = [pid, *(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    total = 0
    for p in pids:
        status = Path(f"/proc/{p}/status").read_text()
        total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    return total / 1024


def wrk(url: str, connections: int, seconds: int, body_file: Path, *headers: str) -> dict[str, float]:
    """wrk (one thread: the load costs the 2 cores little) holding `connections` keep-alive connections closed-loop
    for `seconds`, each POSTing body_file with `headers` ("Name: value"): answers and 503s per second, other
    statuses and socket errors, and p50/p90/p99 of every answer, 503s included (post_counting_statuses.lua)."""
    done = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "2s", "-s", str(WRK_SCRIPT), url, "--", str(body_file),
         *headers],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    run = json.loads(done.stdout.strip().splitlines()[-1])
    statuses = {int(k): v for k, v in run["statuses"].items()}
    return {
        "answers_per_s": statuses.get(200, 0) / run["seconds"],
        "refused_per_s": statuses.get(503, 0) / run["seconds"],
        "other": sum(v for k, v in statuses.items() if k not in (200, 503)) + run["socket_errors"],
        "seconds": run["seconds"],
        "answers": statuses.get(200, 0),
    } | {f: run[f] for f in ("p50_ms", "p90_ms", "p99_ms")}
