"""Release bundles after the build: sign, verify, and read the HEF inside one."""

from __future__ import annotations

import argparse
from pathlib import Path

from hailo_pipeline.cli.common import Add, emit


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
