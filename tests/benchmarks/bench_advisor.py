"""The INT8 advisor's cost (issue #18): what it adds to a build of the TCN on this machine, and an unchanged rebuild.

Two sources, each built with the example spec's defaults (1024 calibration windows): the seeded example TCN (its
preview passes: the per-layer sensitivity alone) and the TCN with a trained one's wide activation channels (its
preview fails: sensitivity, then the greedy advice). The advisor's share is the time between the build's
"quantization advisor" step and the next one, out of the whole build, in the same run. Then the same build again
through the CLI, as build.yml runs it (a new process; the bundle exists, nothing is built).

Targets: the advisor adds < 60 s to a build; an unchanged rebuild takes < 2 s.

Usage: .venv/bin/python -m tests.benchmarks.bench_advisor
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from hailo_pipeline.builder.pipeline import build
from hailo_pipeline.model.examples import original_tcn_onnx

REPO = Path(__file__).resolve().parents[2]


def timed_build(spec: Path, out: Path) -> tuple[float, float, str]:
    """Whole build and advisor seconds, and the advice's layers."""
    marks: list[tuple[float, str]] = []
    start = time.perf_counter()
    release = build(spec, out, progress=lambda step: marks.append((time.perf_counter(), step))).release_dir
    total = time.perf_counter() - start
    i = next(i for i, (_, step) in enumerate(marks) if step.startswith("quantization advisor"))
    advisor = marks[i + 1][0] - marks[i][0]
    advice = yaml.safe_load((release / "release.json").read_text())["gates"]["int8_preview"]["advice"]
    return total, advisor, ", ".join(advice["layers"]) or "none"


def main() -> None:
    example = yaml.safe_load((REPO / "files/examples/tcn_encoder.yaml").read_text())
    print(f"{'TCN source':<34} {'build s':>8} {'advisor s':>9} {'share':>6}  advice")
    with tempfile.TemporaryDirectory() as tmp:
        for label, outliers in (("seeded example (preview passes)", False), ("wide channels (preview fails)", True)):
            folder = Path(tmp) / label.split()[0]
            folder.mkdir()
            (folder / "model.onnx").write_bytes(original_tcn_onnx(outliers=outliers))
            spec = folder / "spec.yaml"
            spec.write_text(yaml.safe_dump(example | {"source": {"onnx": str(folder / "model.onnx")}}))
            total, advisor, layers = timed_build(spec, folder / "out")
            print(f"{label:<34} {total:>8.1f} {advisor:>9.1f} {advisor / total:>6.0%}  {layers}")
        start = time.perf_counter()
        cli = [str(Path(sys.executable).with_name("hailo-pipeline")), "build", str(spec), "--out", str(folder / "out"), "--json"]
        again = subprocess.run(cli, capture_output=True, text=True, check=True)
        rebuild = time.perf_counter() - start
        assert '"cached": true' in again.stdout, again.stdout
    print(f"unchanged rebuild (CLI, new process): {rebuild:.2f} s")


if __name__ == "__main__":
    main()
