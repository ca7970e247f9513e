"""Whole builds end to end, each a few seconds to half a minute of export, calibration, golden vectors and report:
kept out of the unit loop (tests/unit/builder/test_pipeline.py and tests/unit/test_cli.py hold the rest of the build's
tests, on the session's shared example bundles)."""

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hailo_pipeline.builder.pipeline import build
from hailo_pipeline.bundle.verify import verify
from tests.conftest import CLI, SMALL_CALIBRATION

pytestmark = [pytest.mark.slow]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True)


def test_changed_spec_gives_a_new_build_id(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    a = build(write_spec("a.yaml", calibration=SMALL_CALIBRATION), tmp_path / "out")
    b = build(write_spec("b.yaml", calibration=SMALL_CALIBRATION, motif_head={"seed": 1}), tmp_path / "out")
    assert a.build_id != b.build_id
    assert not a.cached
    assert not b.cached


def test_bring_your_own_onnx_builds_the_same_model(write_spec: Callable[..., Path], sources: dict[str, Path], tmp_path: Path) -> None:
    from_checkpoint = build(write_spec("c.yaml", calibration=SMALL_CALIBRATION), tmp_path / "out").release_dir
    onnx_spec = write_spec("o.yaml", calibration=SMALL_CALIBRATION, source={"onnx": str(sources["tcn_encoder_onnx"])})
    from_onnx = build(onnx_spec, tmp_path / "out").release_dir
    manifest = json.loads((from_onnx / "release.json").read_text())
    assert manifest["source"]["kind"] == "onnx"
    assert any("Slice chomp" in line for line in manifest["source"]["rewrite"])
    with np.load(from_checkpoint / "golden.npz") as a, np.load(from_onnx / "golden.npz") as b:
        np.testing.assert_allclose(a["latent"], b["latent"], atol=1e-4)
    verify(from_onnx)


def test_build_json_then_verify(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    spec = write_spec(calibration={"windows": 256, "min_windows": 256})
    planned = json.loads(_cli("build", str(spec), "--out", str(tmp_path / "out"), "--json", "--dry-run").stdout)
    assert planned["exists"] is False
    assert not (tmp_path / "out").exists()
    first = _cli("build", str(spec), "--out", str(tmp_path / "out"), "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert (planned["release_dir"], planned["build_id"]) == (result["release_dir"], result["build_id"])
    replanned = json.loads(_cli("build", str(spec), "--out", str(tmp_path / "out"), "--json", "--dry-run").stdout)
    assert replanned["exists"] is True
    assert Path(result["release_dir"]).is_dir()
    assert result["cached"] is False
    assert "not compiled: DFC not installed" in result["hef"]
    assert "[hailo-pipeline] export:" in first.stderr
    second = json.loads(_cli("build", str(spec), "--out", str(tmp_path / "out"), "--json").stdout)
    assert second == result | {"cached": True}
    checked = _cli("verify", result["release_dir"])
    assert checked.returncode == 0
    assert checked.stdout.startswith(Path(result["release_dir"]).name + ": ok")
