"""The `hailo-pipeline` console script: one subcommand per stage of the model path.

Exit 0 on success; 1 with one line `error: <what is wrong and what to do>` on failure; 2 on bad usage.
`--json` prints a machine-readable result on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from hailo_pipeline import __version__
from hailo_pipeline.errors import PipelineError


def _progress(message: str) -> None:
    print(f"[hailo-pipeline] {message}", file=sys.stderr, flush=True)


def _emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    print(json.dumps(result, sort_keys=True) if args.json else text, file=args.result_stream)


@contextlib.contextmanager
def _stdout_for_result_only() -> Iterator[TextIO]:
    """Yields the stream for the command's result; until it closes, anything else written to stdout (the DFC
    prints progress there, native libraries too) goes to stderr, so --json output stays parseable."""
    sys.stdout.flush()
    try:
        saved = os.dup(sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # stdout is no file (e.g. captured in-process)
        result = sys.stdout
        with contextlib.redirect_stdout(sys.stderr):
            yield result
        return
    os.dup2(sys.stderr.fileno(), 1)
    try:
        with os.fdopen(os.dup(saved), "w") as result:
            yield result
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _findings_text(findings: list[Any]) -> str:
    return "\n".join(f.line() for f in findings) or "preflight: nothing the Hailo parser is known to reject"


def cmd_build(args: argparse.Namespace) -> int:
    from hailo_pipeline.builder.pipeline import build, plan
    from hailo_pipeline.hailo import dfc

    if args.dfc_venv is not None:
        os.environ[dfc.VENV_ENV] = str(args.dfc_venv)  # the compile stage runs the DFC from there
    if args.dry_run:
        planned = plan(args.spec, args.out, args.apply_advice)
        exists = planned.release_dir.exists()
        _emit(
            args,
            {"release_dir": str(planned.release_dir), "build_id": planned.build_id, "exists": exists},
            f"{planned.release_dir} ({'already built' if exists else 'would be built'})",
        )
        return 0
    from hailo_pipeline.bundle.signature import SigningKey

    key = SigningKey.read(args.sign_key) if args.sign_key else None  # checked before the build: a bad key fails fast
    result = build(args.spec, args.out, progress=_progress, apply_advice=args.apply_advice)
    if not result.cached:
        _progress(f"hef: {result.hef_status}")
    payload = {
        "release_dir": str(result.release_dir),
        "build_id": result.build_id,
        "cached": result.cached,
        "hef": result.hef_status,
    }
    text = str(result.release_dir)
    if key is not None:
        signed = key.sign(result.release_dir)
        payload["signature"] = signed.as_dict()
        text += f" (signed by {signed.key})"
    _emit(args, payload, text)
    return 0


def _write_converted(args: argparse.Namespace, data: bytes, parity: Any, extra: dict[str, Any], lines: list[str]) -> int:
    import onnx

    from hailo_pipeline.model.preflight import as_dicts, errors, preflight

    findings = preflight(onnx.load_from_string(data))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    payload = {"onnx": str(args.out), "parity": parity.as_dict(), "preflight": as_dicts(findings), **extra}
    text = "\n".join(
        [
            *lines,
            f"parity: worst cosine {parity.cosine_min:.8f}, max abs {parity.max_abs:.3g}",
            _findings_text(findings),
            str(args.out),
        ]
    )
    _emit(args, payload, text)
    return 1 if errors(findings) else 0


def cmd_export(args: argparse.Namespace) -> int:
    from hailo_pipeline.model.export import export_onnx

    exported = export_onnx(args.arch, args.checkpoint, args.window)
    return _write_converted(args, exported.onnx, exported.parity, {}, [])


def cmd_import_onnx(args: argparse.Namespace) -> int:
    from hailo_pipeline.model.onnx_rewrite import import_onnx

    try:
        data = args.source.read_bytes()
    except FileNotFoundError:
        raise PipelineError(f"{args.source} not found") from None
    imported = import_onnx(data)
    return _write_converted(args, imported.onnx, imported.parity, {"changes": imported.changes}, imported.changes)


def cmd_preflight(args: argparse.Namespace) -> int:
    import onnx

    from hailo_pipeline.model.preflight import as_dicts, errors, preflight

    try:
        model = onnx.load(str(args.model))
    except FileNotFoundError:
        raise PipelineError(f"{args.model} not found") from None
    except Exception:
        raise PipelineError(f"{args.model} is not an ONNX model") from None
    findings = preflight(model)
    _emit(args, {"findings": as_dicts(findings)}, _findings_text(findings))
    return 1 if errors(findings) else 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    import numpy as np

    from hailo_pipeline.builder.calibration import lint, spec_windows
    from hailo_pipeline.builder.pipeline import input_height, source_bytes
    from hailo_pipeline.builder.spec import load_spec

    spec = load_spec(args.spec)
    windows = spec_windows(spec, input_height(spec, source_bytes(spec)[0]))
    report = lint(windows, spec.normalization, spec.calibration.min_windows)
    if args.out:
        np.save(args.out, windows)
    rows = [f"{c.channel}: [{c.min:.3g}, {c.max:.3g}] mean {c.mean:.3g} std {c.std:.3g} coverage {c.coverage:.0%}" for c in report.channels]
    text = "\n".join(
        [
            f"{report.windows} windows",
            *rows,
            *(f"warning: {w}" for w in report.warnings),
            *(f"error: {e}" for e in report.errors),
        ]
    )
    _emit(args, report.as_dict(), text)
    return 1 if report.errors else 0


def cmd_sign(args: argparse.Namespace) -> int:
    from hailo_pipeline.bundle.release import check_sums
    from hailo_pipeline.bundle.signature import SigningKey

    key = SigningKey.read(args.key)
    check_sums(args.release_dir)  # what is signed must be what SHA256SUMS says
    signed = key.sign(args.release_dir)
    _emit(args, {"release_dir": str(args.release_dir), "signature": signed.as_dict()}, f"{args.release_dir}: signed by {signed.key}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from hailo_pipeline.bundle.verify import verify

    result = verify(args.release_dir, args.allowed_signers)
    device = result["golden"][result["device_output"]]
    signed = f", signed by {result['signature']['principal']} ({result['signature']['key']})" if args.allowed_signers else ""
    _emit(
        args,
        result,
        f"{result['release']}: ok ({result['files']} files{signed}, golden {result['device_output']} cosine "
        f"{device['cosine_min']:.6f} on onnxruntime, host tail reproduced)",
    )
    return 0


def cmd_inspect_hef(args: argparse.Namespace) -> int:
    from hailo_pipeline.hailo.hef import describe, inspect_hef

    info = inspect_hef(args.hef)
    _emit(args, info.as_dict(), describe(info))
    return 0


def cmd_metrics_gateway(args: argparse.Namespace) -> int:
    from hailo_pipeline.serve.metrics_gateway import gateway

    try:
        server = gateway(args.upstream, args.host, args.port)
    except OSError as exc:
        raise PipelineError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    _progress(f"metrics gateway on {args.host}:{args.port} -> {args.upstream} (GET /metrics, /healthz)")
    server.serve_forever()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from hailo_pipeline.serve.app import create_app
    from hailo_pipeline.serve.server import serve
    from hailo_pipeline.serve.settings import from_env

    release_dirs = tuple(args.release_dirs) or None
    config = from_env(release_dirs=release_dirs, edgeinfer_model=args.edgeinfer_model, host=args.host, port=args.port, backend=args.backend)
    serve(create_app(config), config)
    return 0


def cmd_switch(args: argparse.Namespace) -> int:
    from hailo_pipeline.serve.control import switch
    from hailo_pipeline.serve.settings import from_env

    result = switch(args.release_dir, from_env().control_port)
    if not result["switched"]:
        text = f"{result['model']}: {result['release']} is already served"
    else:
        text = f"{result['model']}: now serving {result['release']} (was {result['previous']}), in {result['seconds']} s" + (
            f", {result['gap_seconds']} s without a release: the device holds one at a time" if result["gap_seconds"] is not None else ""
        )
    _emit(args, result, text)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import orjson

    from hailo_pipeline.serve.bench import bench, request_window

    body = args.body.read_bytes() if args.body is not None else orjson.dumps({"x": request_window().tolist()})
    result = bench(args.url, body, args.concurrency, args.requests)
    _emit(args, result.as_dict(), result.summary())
    return 0 if result.ok == result.requests else 1


def cmd_fit(args: argparse.Namespace) -> int:
    from hailo_pipeline.builder.image_labels import HAILORT_LABEL, tarball_labels
    from hailo_pipeline.bundle import manifest as manifest_io
    from hailo_pipeline.hailo.compat import fit_problems

    image_hailort = tarball_labels(args.image_tarball).get(HAILORT_LABEL, "") if args.image_tarball else args.image_hailort
    misfits: list[str] = []
    models: dict[str, str] = {}
    for release_dir in args.release_dirs:
        manifest = manifest_io.read(release_dir)
        if manifest["name"] in models:
            twice = f"{models[manifest['name']]} and {manifest['release']} are both model {manifest['name']}"
            raise PipelineError(f"{twice}: a host serves one release of each model")
        models[manifest["name"]] = manifest["release"]
        problems = fit_problems(
            manifest["hef"],
            args.device_arch or None,
            driver=args.driver or None,
            image_hailort=None if image_hailort in ("", "none") else image_hailort,
            library=args.hailort or None,
            firmware=args.firmware or None,
        )
        if problems:
            misfits.append(f"{manifest['release']} does not fit this host: " + "; ".join(problems))
    if misfits:
        raise PipelineError("\n".join(misfits))
    _emit(args, {"models": models, "fits": True}, ", ".join(models.values()) + " fit")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from hailo_pipeline.serve.probe import probe

    result = probe(args.url, args.release_dir)
    worst = min((label for label in result if isinstance(result[label], dict)), key=lambda label: result[label]["cosine_min"])
    text = (
        f"{result['release']} is live as {result['model']} on {result['backend']} (through {result['route']}): "
        f"{result['windows']} golden windows, worst {worst} cosine {result[worst]['cosine_min']:.6f}"
    )
    _emit(args, result, text)
    return 0


def cmd_tailnet(args: argparse.Namespace) -> int:
    from hailo_pipeline.fleet.tailnet import parse_status, read_status

    tailnet = parse_status(read_status(args.tailscale, args.timeout), args.tailnet)
    online = [node.name for node in tailnet.nodes if node.online]
    offline = [node.name for node in tailnet.nodes if not node.online]
    result = {"tailnet": tailnet.domain, "self": tailnet.nodes[0].name if tailnet.nodes else None, "online": online, "offline": offline}
    _emit(args, result, f"on tailnet {tailnet.domain} as {result['self']}: {len(online)} machines online, {len(offline)} offline")
    return 0


def cmd_example(args: argparse.Namespace) -> int:
    from hailo_pipeline.model.examples import example_checkpoint, original_tcn_onnx, write_if_changed

    if args.kind in ("tcn_encoder_onnx", "tcn_encoder_outliers_onnx"):
        data = original_tcn_onnx(args.seed, outliers=args.kind == "tcn_encoder_outliers_onnx")
    else:
        data = example_checkpoint(args.kind, args.seed)
    changed = write_if_changed(args.out, data)
    _emit(args, {"path": str(args.out), "changed": changed}, f"{args.out} ({'written' if changed else 'unchanged'})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hailo-pipeline", description="Build IMU models into Hailo-8 release bundles and serve them to EdgeInfer."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        p.set_defaults(func=func)
        return p

    p = add("build", cmd_build, "the whole GPUSrv job for one model spec -> a release bundle")
    p.add_argument("spec", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder that receives <name>-<version>-<build_id12>/")
    p.add_argument("--dry-run", action="store_true", help="compute the build id and say whether the bundle exists; build nothing")
    p.add_argument(
        "--apply-advice",
        action="store_true",
        help="keep the layers the INT8 advisor names at a16_w16 in this build's model script (recorded in release.json)",
    )
    p.add_argument(
        "--sign-key",
        metavar="KEY",
        help="sign the bundle's SHA256SUMS with this ed25519 private key (ssh-keygen -Y sign) into SHA256SUMS.sig; - reads it from stdin",
    )
    p.add_argument(
        "--dfc-venv",
        type=Path,
        metavar="VENV",
        help="the DFC's own venv (build.yml: hailo_dfc_venv); default $HAILO_PIPELINE_DFC_VENV, else this interpreter's",
    )
    p = add("export", cmd_export, "PyTorch checkpoint -> Hailo-friendly ONNX, with parity and preflight")
    p.add_argument("--arch", choices=["tcn_encoder", "conv2d_fsq"], required=True)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--window", type=int, default=100)
    p.add_argument("--out", type=Path, required=True)
    p = add("import-onnx", cmd_import_onnx, "bring-your-own ONNX -> Hailo-friendly ONNX, with parity and preflight")
    p.add_argument("source", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p = add("preflight", cmd_preflight, "list the nodes the Hailo parser is known to reject")
    p.add_argument("model", type=Path)
    p = add("calibrate", cmd_calibrate, "the calibration windows a spec would use, with their lint")
    p.add_argument("spec", type=Path)
    p.add_argument("--out", type=Path, help="save the raw windows as .npy")
    p = add("sign", cmd_sign, "sign a bundle's SHA256SUMS (one built before signing was on) with an ed25519 key -> SHA256SUMS.sig")
    p.add_argument("release_dir", type=Path)
    p.add_argument("--key", required=True, metavar="KEY", help="the ed25519 private key file; - reads it from stdin")
    p = add("verify", cmd_verify, "checksums, manifest schema, golden vectors on ONNX Runtime; the signature with --allowed-signers")
    p.add_argument("release_dir", type=Path)
    p.add_argument(
        "--allowed-signers",
        type=Path,
        metavar="FILE",
        help="require SHA256SUMS.sig by a key this ssh-keygen allowed-signers file lists (`<principal> ssh-ed25519 <key>` per line)",
    )
    p = add("inspect-hef", cmd_inspect_hef, "read a HEF without HailoRT: arch, DFC version, I/O shapes and quantization")
    p.add_argument("hef", type=Path)
    p = add("serve", cmd_serve, "run the inference sidecar on release bundles, one model each (flags win over env vars)")
    p.add_argument("release_dirs", type=Path, nargs="*", metavar="RELEASE", help="default: HAILO_RELEASE_DIR or /models/current")
    p.add_argument("--edgeinfer-model", help="the model POST /infer answers with (default: the first that fits EdgeInfer)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--backend", choices=["auto", "hailo", "onnxruntime"])
    p = add("metrics-gateway", cmd_metrics_gateway, "GET /metrics and /healthz of the sidecar, for the fleet's Prometheus")
    p.add_argument("--upstream", default="http://hailo-inference:9000", help="the sidecar, by its name on EdgeInfer's network")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=9101)
    p = add("switch", cmd_switch, "the sidecar on this host serves another release: loaded beside, golden-checked, then switched")
    p.add_argument("release_dir", type=Path, help="the bundle inside the sidecar, e.g. /models/releases/<release>")
    p = add("bench", cmd_bench, "closed-loop load on a running sidecar with EdgeInfer's request shape")
    p.add_argument("url", help="the MODEL_BACKEND_URL, e.g. http://127.0.0.1:9000/infer")
    p.add_argument("--concurrency", type=int, default=1, help="clients, each waiting for its answer (EdgeInfer: 1)")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--body", type=Path, help="request body file (default: a 100x9 window)")
    p = add("fit", cmd_fit, "do bundles and a sidecar image fit a host: HEF arch vs device, HEF vs HailoRT, HailoRT vs driver and firmware")
    p.add_argument("release_dirs", type=Path, nargs="+", metavar="RELEASE", help="every bundle the host is to serve (one per model)")
    p.add_argument("--device-arch", default="", help="hailortcli fw-control identify's Device Architecture (empty: unknown)")
    p.add_argument("--hailort", default="", help="the host's HailoRT library version (empty: unknown)")
    p.add_argument("--driver", default="", help="the host's loaded hailo_pci driver version (empty: unknown)")
    p.add_argument("--firmware", default="", help="the device's firmware: fw-control identify's Firmware Version (empty: unknown)")
    image = p.add_mutually_exclusive_group()
    image.add_argument(
        "--image-hailort", default="", help="the sidecar image's HailoRT: its label org.hailo-fleet.hailort (empty or none: ONNX Runtime)"
    )
    image.add_argument("--image-tarball", type=Path, help="read that label from a `docker save` tarball of the image")
    p = add("probe", cmd_probe, "a running sidecar serves this release and its golden vectors, seen as its callers see it")
    p.add_argument("url", help="the MODEL_BACKEND_URL, e.g. http://127.0.0.1:9000/infer")
    p.add_argument("release_dir", type=Path, help="the bundle that should be live")
    p = add("tailnet", cmd_tailnet, "Tailscale runs here, logged in to the fleet's tailnet with MagicDNS (the controller preflight)")
    p.add_argument("--tailnet", required=True, metavar="DOMAIN", help="the tailnet's MagicDNS suffix, e.g. tailnet-example.ts.net")
    p.add_argument("--tailscale", nargs="+", default=["tailscale"], metavar="ARG", help="the Tailscale CLI and its global flags")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds `tailscale status --json` may take")
    p = add("example", cmd_example, "write a deterministic example source model (no downloads)")
    p.add_argument("kind", choices=["tcn_encoder", "conv2d_fsq", "tcn_encoder_onnx", "tcn_encoder_outliers_onnx"])
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with _stdout_for_result_only() as args.result_stream:
            return int(args.func(args))
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
