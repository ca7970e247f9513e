"""Benchmark of the model toolkit against issue #3's targets, on this machine, in one run.

  export + rewrite + preflight of the TCN     target < 10 s   (in-process, torch already imported)
  full build without the DFC (CLI)            target < 60 s
  repeated build, same inputs (CLI)           target < 2 s

Usage: .venv/bin/python -m tests.benchmarks.bench_toolkit
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import onnx
import yaml

from hailo_pipeline.model.examples import example_checkpoint, original_tcn_onnx
from hailo_pipeline.model.export import export_onnx
from hailo_pipeline.model.onnx_rewrite import import_onnx
from hailo_pipeline.model.preflight import preflight

# The CLI of the interpreter running this script, whether or not its venv is activated.
CLI = str(Path(sys.executable).with_name("hailo-pipeline"))

REPO = Path(__file__).resolve().parents[2]


def _seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint = folder / "tcn.pt"
        checkpoint.write_bytes(example_checkpoint("tcn_encoder"))
        original = original_tcn_onnx()

        def convert() -> None:
            exported = export_onnx("tcn_encoder", checkpoint, 100)
            imported = import_onnx(original)
            for data in (exported.onnx, imported.onnx):
                preflight(onnx.load_from_string(data))

        spec = yaml.safe_load((REPO / "files/examples/tcn_encoder.yaml").read_text())
        spec["source"]["checkpoint"] = str(checkpoint)
        (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
        command = [CLI, "build", str(folder / "spec.yaml"), "--out", str(folder / "out")]

        rows = [
            ("export + rewrite + preflight (TCN)", _seconds(convert), 10.0),
            ("full build, no DFC (CLI)", _seconds(lambda: subprocess.run(command, check=True, capture_output=True)), 60.0),
            ("repeated build, same inputs (CLI)", _seconds(lambda: subprocess.run(command, check=True, capture_output=True)), 2.0),
        ]
    print(f"{'step':40} {'seconds':>8} {'target':>8}  within")
    for name, seconds, target in rows:
        print(f"{name:40} {seconds:8.2f} {target:8.1f}  {'yes' if seconds < target else 'NO'}")
    print(f"full build / repeated build: {rows[1][1] / rows[2][1]:.1f}x")


if __name__ == "__main__":
    main()
