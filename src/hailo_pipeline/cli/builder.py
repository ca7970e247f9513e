"""GPUSrv's job: build a model spec into a release bundle, and the calibration it would use."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from hailo_pipeline.cli.common import Add, emit, progress
from hailo_pipeline.errors import PipelineError


def cmd_build(args: argparse.Namespace) -> int:
    from hailo_pipeline.builder.pipeline import build, plan
    from hailo_pipeline.hailo import dfc

    if args.dfc_venv is not None:
        os.environ[dfc.VENV_ENV] = str(args.dfc_venv)  # the compile stage runs the DFC from there
    if args.dry_run:
        planned = plan(args.spec, args.out, args.apply_advice)
        exists = planned.release_dir.exists()
        emit(
            args,
            {"release_dir": str(planned.release_dir), "build_id": planned.build_id, "exists": exists},
            f"{planned.release_dir} ({'already built' if exists else 'would be built'})",
        )
        return 0
    from hailo_pipeline.bundle.signature import SigningKey

    key = SigningKey.read(args.sign_key) if args.sign_key else None  # checked before the build: a bad key fails fast
    result = build(args.spec, args.out, progress=progress, apply_advice=args.apply_advice)
    if not result.cached:
        progress(f"hef: {result.hef_status}")
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
    emit(args, payload, text)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    import numpy as np

    from hailo_pipeline.builder.calibration import fleet_split, lint, spec_windows
    from hailo_pipeline.builder.pipeline import input_height, source_bytes
    from hailo_pipeline.builder.spec import load_spec

    spec = load_spec(args.spec)
    if args.holdout_share is not None and not 0 < args.holdout_share < 1:
        raise PipelineError(f"--holdout-share must be between 0 and 1, got {args.holdout_share}")
    if args.from_fleet:
        share = spec.calibration.holdout_share if args.holdout_share is None else args.holdout_share
        fleet = dataclasses.replace(spec.calibration, source="fleet", fleet_dir=str(args.from_fleet.resolve()), holdout_share=share)
        spec = dataclasses.replace(spec, calibration=fleet)
    height = input_height(spec, source_bytes(spec)[0])
    fleet_text, payload = [], {}
    if spec.calibration.source == "fleet":
        split = fleet_split(spec, height)
        windows = split.calibration
        payload = {"fleet": {"folder": str(split.folder), "files": split.sources, "held_out": len(split.holdout)}}
        total, held = len(windows) + len(split.holdout), len(split.holdout)
        fleet_text = [f"from {split.folder}: {total} windows in {len(split.sources)} files, {held} held out for the gates"]
        if args.holdout_out:
            np.save(args.holdout_out, split.holdout)
    else:
        windows = spec_windows(spec, height)
    report = lint(windows, spec.normalization, spec.calibration.min_windows)
    if args.out:
        np.save(args.out, windows)
    rows = [f"{c.channel}: [{c.min:.3g}, {c.max:.3g}] mean {c.mean:.3g} std {c.std:.3g} coverage {c.coverage:.0%}" for c in report.channels]
    text = "\n".join(
        [
            *fleet_text,
            f"{report.windows} windows",
            *rows,
            *(f"warning: {w}" for w in report.warnings),
            *(f"error: {e}" for e in report.errors),
        ]
    )
    emit(args, report.as_dict() | payload, text)
    return 1 if report.errors else 0


def register(add: Add) -> None:
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
    p = add("calibrate", cmd_calibrate, "the calibration windows a spec would use, with their lint")
    p.add_argument("spec", type=Path)
    p.add_argument("--out", type=Path, help="save the raw windows as .npy")
    p.add_argument(
        "--from-fleet",
        type=Path,
        metavar="DIR",
        help="calibrate on the fleet's windows in DIR (collect.yml's artifacts/fleet-data, or one model's folder, or .npy arrays "
        "of raw windows N x rows x channels): the spec's calibration.source fleet with that fleet_dir",
    )
    p.add_argument("--holdout-share", type=float, help="with the fleet's windows: the share held out for the gates (default the spec's)")
    p.add_argument("--holdout-out", type=Path, help="with the fleet's windows: save the held-out ones as .npy")
