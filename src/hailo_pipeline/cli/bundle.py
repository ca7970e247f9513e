"""Release bundles after the build: sign, verify, read the HEF inside one, and check client traffic against one."""

from __future__ import annotations

import argparse
from pathlib import Path

from hailo_pipeline.cli.common import Add, emit
from hailo_pipeline.errors import PipelineError


def cmd_sign(args: argparse.Namespace) -> int:
    from hailo_pipeline.bundle.release import check_sums
    from hailo_pipeline.bundle.signature import SigningKey

    key = SigningKey.read(args.key)
    check_sums(args.release_dir)  # what is signed must be what SHA256SUMS says
    signed = key.sign(args.release_dir)
    emit(args, {"release_dir": str(args.release_dir), "signature": signed.as_dict()}, f"{args.release_dir}: signed by {signed.key}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from hailo_pipeline.bundle.verify import verify

    result = verify(args.release_dir, args.allowed_signers)
    device = result["golden"][result["device_output"]]
    signed = f", signed by {result['signature']['principal']} ({result['signature']['key']})" if args.allowed_signers else ""
    emit(
        args,
        result,
        f"{result['release']}: ok ({result['files']} files{signed}, golden {result['device_output']} cosine "
        f"{device['cosine_min']:.6f} on onnxruntime, host tail reproduced)",
    )
    return 0


def cmd_inspect_hef(args: argparse.Namespace) -> int:
    from hailo_pipeline.hailo.hef import describe, inspect_hef

    info = inspect_hef(args.hef)
    emit(args, info.as_dict(), describe(info))
    return 0


# check-input's exit status when a channel is flagged: apart from 1 (the check could not run) and 2 (bad usage),
# so a CI step can tell traffic the model was not calibrated on from a broken check.
FLAGGED = 3


def cmd_check_input(args: argparse.Namespace) -> int:
    from hailo_pipeline.bundle import manifest as manifest_io
    from hailo_pipeline.bundle import sample_traffic, units
    from hailo_pipeline.bundle.input_guard import read_envelope

    manifest = manifest_io.read(args.release_dir)
    channels = manifest["input"]["channels"]
    _, client_units = manifest_io.input_units(manifest)
    overrides = dict(_channel_unit(item) for item in args.client_units or [])
    client_units = units.parse_units(overrides, channels, client_units, "--client-units")
    verdict = sample_traffic.verdict(args.samples, channels, client_units, read_envelope(manifest))
    flagged = [c.channel for c in verdict.flagged]
    if not verdict.envelope:
        text = f"{manifest['release']} carries no calibration envelope (built before the input guard): nothing to check against"
    else:
        files = f"{verdict.windows} window(s) from {len(args.samples)} file(s)"
        head = f"{manifest['release']}: {files}, {len(flagged)} of {len(channels)} channels flagged"
        text = "\n".join([head, *(f"  {c.channel:3} {c.verdict:16} {c.message}" for c in verdict.channels)])
    emit(args, {"release": manifest["release"], "files": [str(p) for p in args.samples], "flagged": flagged, **verdict.as_dict()}, text)
    return FLAGGED if flagged else 0


def _channel_unit(item: str) -> tuple[str, str]:
    channel, sep, unit = item.partition("=")
    if not sep:
        raise PipelineError(f"--client-units {item!r}: give CHANNEL=UNIT, for example gx=deg/s")
    return channel, unit


def register(add: Add) -> None:
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
    p = add(
        "check-input",
        cmd_check_input,
        "the input guard's verdict on client traffic (EdgeInfer request bodies, .npy windows) against a bundle's calibration "
        f"envelope; exit {FLAGGED} when a channel is flagged",
    )
    p.add_argument("release_dir", type=Path)
    p.add_argument("samples", type=Path, nargs="+", metavar="SAMPLE", help='EdgeInfer request bodies ({"x": rows}, JSON) or .npy windows')
    p.add_argument(
        "--client-units",
        action="append",
        metavar="CHANNEL=UNIT",
        help="what the client sends for a channel, over the bundle's input.client_units (as a host's override would); repeatable",
    )
