"""The `hailo-pipeline` console script: one subcommand per stage of the model path."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hailo_pipeline import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hailo-pipeline",
        description="Build IMU models into Hailo-8 release bundles and serve them to EdgeInfer.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return 0
