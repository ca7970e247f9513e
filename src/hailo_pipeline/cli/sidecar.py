"""The inference sidecar: run it, and the client tools that talk to a running one."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from hailo_pipeline.cli.common import Add, emit, progress
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve.settings import BACKENDS, describe


def cmd_serve(args: argparse.Namespace) -> int:
    from hailo_pipeline.serve.http.app import create_app
    from hailo_pipeline.serve.server import serve
    from hailo_pipeline.serve.settings import from_env

    release_dirs = tuple(args.release_dirs) or None
    config = from_env(
        release_dirs=release_dirs,
        models_dir=args.models_dir,
        edgeinfer_model=args.edgeinfer_model,
        host=args.host,
        port=args.port,
        backend=args.backend,
    )
    serve(create_app(config), config)
    return 0


def cmd_switch(args: argparse.Namespace) -> int:
    from hailo_pipeline.clients.switch import remove, switch
    from hailo_pipeline.serve.control import CONTROL_HOST
    from hailo_pipeline.serve.settings import from_env

    if (args.release_dir is None) == (args.remove is None):
        raise PipelineError("give either a RELEASE to serve or --remove MODEL, not both or neither")
    control_url = f"http://{CONTROL_HOST}:{from_env().control_port}"
    if args.remove is not None:
        result = remove(args.remove, control_url)
        removed = f"removed (it served {result['release']}), in {result['seconds']} s"
        emit(args, result, f"{result['model']}: {removed if result['removed'] else 'not served, nothing to remove'}")
        return 0
    result = switch(args.release_dir, control_url, args.live_gate)
    gate = result.get("live_gate")
    if not result["switched"]:
        text = f"{result['model']}: {result['release']} is already served"
    elif result["added"]:
        text = f"{result['model']}: added, serving {result['release']}, in {result['seconds']} s"
    else:
        text = f"{result['model']}: now serving {result['release']} (was {result['previous']}), in {result['seconds']} s" + (
            f", {result['gap_seconds']} s without a release: the device holds one at a time" if result["gap_seconds"] is not None else ""
        )
    emit(args, result, text + (f"; live-window gate: {gate['said']}" if gate else ""))
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from hailo_pipeline.clients.probe import probe

    result = probe(args.url, args.release_dir)
    worst = min((label for label in result if isinstance(result[label], dict)), key=lambda label: result[label]["cosine_min"])
    text = (
        f"{result['release']} is live as {result['model']} on {result['backend']} (through {result['route']}): "
        f"{result['windows']} golden windows, worst {worst} cosine {result[worst]['cosine_min']:.6f}"
    )
    emit(args, result, text)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import orjson

    from hailo_pipeline.clients.bench import bench, request_window

    body = args.body.read_bytes() if args.body is not None else orjson.dumps({"x": request_window().tolist()})
    result = bench(args.url, body, args.concurrency, args.requests)
    emit(args, result.as_dict(), result.summary())
    return 0 if result.ok == result.requests else 1


def cmd_metrics_gateway(args: argparse.Namespace) -> int:
    from hailo_pipeline.clients.metrics_gateway import gateway

    try:
        server = gateway(args.upstream, args.host, args.port)
    except OSError as exc:
        raise PipelineError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    progress(f"metrics gateway on {args.host}:{args.port} -> {args.upstream} (GET /metrics, /healthz)")
    # As its container's PID 1 it gets no default action for SIGTERM: without this, `docker stop` waits out its
    # 10 s timeout, and so does every dockerd restart and reboot of the Pi, EdgeInfer's container down meanwhile.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server.serve_forever()
    return 0


def register(add: Add) -> None:
    p = add("serve", cmd_serve, "run the inference sidecar on release bundles, one model each (flags win over env vars)")
    p.add_argument("release_dirs", type=Path, nargs="*", metavar="RELEASE", help=describe("release_dirs"))
    p.add_argument("--models-dir", type=Path, help=describe("models_dir"))
    p.add_argument("--edgeinfer-model", help=describe("edgeinfer_model"))
    p.add_argument("--host", help=describe("host"))
    p.add_argument("--port", type=int, help=describe("port"))
    p.add_argument("--backend", choices=BACKENDS, help=describe("backend"))
    p = add(
        "switch",
        cmd_switch,
        "the sidecar on this host serves another release (loaded beside, golden-checked, then switched; a model not served "
        "is added), or stops serving a model (--remove)",
    )
    p.add_argument(
        "release_dir", type=Path, nargs="?", metavar="RELEASE", help="the bundle inside the sidecar, e.g. /models/releases/<release>"
    )
    p.add_argument(
        "--remove", metavar="MODEL", help="remove this model (its manifest name): its windows in flight are answered, then it is unloaded"
    )
    p.add_argument(
        "--live-gate",
        action="store_true",
        help="a release loaded now must also reproduce this host's captured windows of its model against its FP32 ONNX, to the "
        "quantization gate (the canary's live-window gate; without captured windows, the golden ones only)",
    )
    p = add("probe", cmd_probe, "a running sidecar serves this release and its golden vectors, seen as its callers see it")
    p.add_argument("url", help="the MODEL_BACKEND_URL, e.g. http://127.0.0.1:9000/infer")
    p.add_argument("release_dir", type=Path, help="the bundle that should be live")
    p = add("bench", cmd_bench, "closed-loop load on a running sidecar with EdgeInfer's request shape")
    p.add_argument("url", help="the MODEL_BACKEND_URL, e.g. http://127.0.0.1:9000/infer")
    p.add_argument("--concurrency", type=int, default=1, help="clients, each waiting for its answer (EdgeInfer: 1)")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--body", type=Path, help="request body file (default: a 100x9 window)")
    p = add("metrics-gateway", cmd_metrics_gateway, "GET /metrics and /healthz of the sidecar, for the fleet's Prometheus")
    p.add_argument("--upstream", default="http://hailo-inference:9000", help="the sidecar, by its name on EdgeInfer's network")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=9101)
