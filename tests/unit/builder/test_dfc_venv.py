"""The DFC in a venv of its own, across a process boundary (issue 37): what the build says of a venv that lacks the
DFC or is not there. tests/integration/test_dfc_venv.py installs the DFC double's wheel into one and builds through it."""

import importlib.machinery
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CLI, SMALL_CALIBRATION


def test_a_venv_without_the_dfc_is_reported_as_not_installed(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    venv = tmp_path / "empty-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    built = subprocess.run(
        [CLI, "build", str(write_spec(calibration=SMALL_CALIBRATION)), "--out", str(tmp_path / "out"), "--json", "--dfc-venv", str(venv)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["hef"] == f"not compiled: DFC not installed (hailo_sdk_client is not importable by {venv}/bin/python)"


def test_a_dfc_venv_that_is_not_there_is_an_error(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    built = subprocess.run(
        [CLI, "build", str(write_spec()), "--out", str(tmp_path / "out"), "--dfc-venv", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 1
    assert f"error: DFC venv {tmp_path / 'nowhere'}: there is no {tmp_path / 'nowhere'}/bin/python" in built.stderr


def test_a_dfc_only_this_process_has_imported_is_not_installed_for_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """What this process happened to import (a module left in sys.modules) says nothing about the process that
    compiles: the runner is asked, with the import path it gets."""
    import types

    from hailo_pipeline.hailo import dfc

    leaked = types.ModuleType("hailo_sdk_client")
    leaked.__spec__ = importlib.machinery.ModuleSpec("hailo_sdk_client", None)
    monkeypatch.setitem(sys.modules, "hailo_sdk_client", leaked)
    monkeypatch.delenv(dfc.VENV_ENV, raising=False)
    found = dfc.locate()
    assert found.version is None
    assert found.not_installed.startswith("not compiled: DFC not installed (hailo_sdk_client is not importable by ")
