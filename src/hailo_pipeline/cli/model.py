"""The graph side: a source model into Hailo-friendly ONNX, its preflight, and the example models."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hailo_pipeline.cli.common import Add, emit
from hailo_pipeline.errors import PipelineError


def findings_text(findings: list[Any]) -> str:
    return "\n".join(f.line() for f in findings) or "preflight: nothing the Hailo parser is known to reject"


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
            findings_text(findings),
            str(args.out),
        ]
    )
    emit(args, payload, text)
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
    emit(args, {"findings": as_dicts(findings)}, findings_text(findings))
    return 1 if errors(findings) else 0


def cmd_example(args: argparse.Namespace) -> int:
    from hailo_pipeline.model.examples import example_checkpoint, original_tcn_onnx, write_if_changed

    if args.kind in ("tcn_encoder_onnx", "tcn_encoder_outliers_onnx"):
        data = original_tcn_onnx(args.seed, outliers=args.kind == "tcn_encoder_outliers_onnx")
    else:
        data = example_checkpoint(args.kind, args.seed)
    changed = write_if_changed(args.out, data)
    emit(args, {"path": str(args.out), "changed": changed}, f"{args.out} ({'written' if changed else 'unchanged'})")
    return 0


def register(add: Add) -> None:
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
    p = add("example", cmd_example, "write a deterministic example source model (no downloads)")
    p.add_argument("kind", choices=["tcn_encoder", "conv2d_fsq", "tcn_encoder_onnx", "tcn_encoder_outliers_onnx"])
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=0)
