"""The `hailo-pipeline` console script: one subcommand per stage of the model path.

Exit 0 on success; 1 with one line `error: <what is wrong and what to do>` on failure; 2 on bad usage; check-input 3
when a channel of the traffic is flagged.
`--json` prints a machine-readable result on stdout; progress goes to stderr.

Each command group is a module beside this one, holding its commands and, in `register`, their arguments:
builder (build, calibrate), model (export, import-onnx, preflight, example), bundle (sign, verify, inspect-hef, check-input),
sidecar (serve and its clients: switch, probe, bench, metrics-gateway), fleet (fit, tailnet, collect-capture).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from hailo_pipeline import __version__
from hailo_pipeline.cli import builder, bundle, fleet, model, sidecar
from hailo_pipeline.errors import PipelineError


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

    for group in (builder, model, bundle, sidecar, fleet):
        group.register(add)
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
