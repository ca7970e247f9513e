"""What every command group shares: how a command reports progress and its result, and how it is added."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

# add(name, command, help) -> the subcommand's parser, with --json already on it (build_parser's)
Add = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def progress(message: str) -> None:
    print(f"[hailo-pipeline] {message}", file=sys.stderr, flush=True)


def emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    print(json.dumps(result, sort_keys=True) if args.json else text, file=args.result_stream)
