"""The console script as an operator meets it: exit codes, one-line errors, --json."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from hailo_pipeline import __version__
from hailo_pipeline.cli import main
from tests.conftest import CLI, REPO_ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True)


def test_console_script_reports_the_package_version() -> None:
    out = _run("--version")
    assert out.stdout.strip() == f"hailo-pipeline {__version__}"


def test_module_entry_point_matches_console_script() -> None:
    out = subprocess.run([sys.executable, "-m", "hailo_pipeline", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert __version__ in out.stdout


def test_no_subcommand_prints_help_and_fails(capsys) -> None:
    assert main([]) == 2
    assert "usage: hailo-pipeline" in capsys.readouterr().err


def test_json_stdout_stays_clean_while_the_dfc_prints(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    # The DFC (and its double) print progress to stdout; with --json only the result may reach it.
    spec = write_spec(calibration={"windows": 256, "min_windows": 256}, require_hef=True)
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT / "tests/support/doubles")}
    out = subprocess.run([CLI, "build", str(spec), "--out", str(tmp_path / "out"), "--json"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["hef"].startswith("compiled: DFC 3.33.0")
    assert out.stdout.count("\n") == 1
    assert "[info] Model Optimization is done" in out.stderr


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text("name: x\nversion: 1\nsorce: {}\n")
    out = _run("build", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "out"))
    assert out.returncode == 1
    assert out.stderr.startswith("error: ")
    assert "unknown key(s) sorce" in out.stderr
    assert out.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_import_onnx_and_preflight_commands(sources: dict[str, Path], tmp_path: Path) -> None:
    before = _run("preflight", str(sources["tcn_encoder_onnx"]), "--json")
    assert before.returncode == 1
    assert {f["op"] for f in json.loads(before.stdout)["findings"]} >= {"Transpose", "Slice", "Squeeze"}
    converted = _run("import-onnx", str(sources["tcn_encoder_onnx"]), "--out", str(tmp_path / "hailo.onnx"))
    assert converted.returncode == 0, converted.stderr
    assert "preflight: nothing the Hailo parser is known to reject" in converted.stdout
    assert _run("preflight", str(tmp_path / "hailo.onnx")).returncode == 0


def test_export_example_and_calibrate_commands(tmp_path: Path, write_spec: Callable[..., Path]) -> None:
    assert _run("example", "conv2d_fsq", str(tmp_path / "fsq.pt")).stdout.endswith("(written)\n")
    assert _run("example", "conv2d_fsq", str(tmp_path / "fsq.pt")).stdout.endswith("(unchanged)\n")
    exported = _run(
        "export", "--arch", "conv2d_fsq", "--checkpoint", str(tmp_path / "fsq.pt"), "--out", str(tmp_path / "fsq.onnx"), "--json"
    )
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["parity"]["cosine_min"] >= 0.99999
    calibrated = _run("calibrate", str(write_spec()), "--out", str(tmp_path / "calib.npy"))
    assert calibrated.returncode == 0
    assert calibrated.stdout.startswith("1024 windows")
