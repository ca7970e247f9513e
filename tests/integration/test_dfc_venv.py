"""The DFC in a venv of its own, across a process boundary (issue 37): the DFC double's wheel declares what the
real one does where it matters (Python 3.10-3.12, an exact NumPy 1 pin), so it cannot join hailo-pipeline's venv
under the lock (numpy 2), and hailo-pipeline builds a HEF through it from a separate venv.
Needs a package index for the DFC's requirements (pip download), as scripts/wheelhouse does; slow (a wheelhouse and a
venv installed with pip), so not in the unit loop, which keeps tests/unit/builder/test_dfc_venv.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import CLI, REPO_ROOT, SMALL_CALIBRATION, locked_version
from tests.support.doubles import build_dfc_wheel

pytestmark = [pytest.mark.slow]

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
NO_PIP_SETTINGS = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}


def _offline(wheel: Path) -> list[str]:
    """The wheelhouse (for --find-links) and the wheel."""
    return [str(wheel.parent / "wheelhouse"), str(wheel)]


@pytest.fixture(scope="module")
def dfc_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DFC double's wheel, with its requirements for this Python in wheelhouse/ beside it."""
    folder = tmp_path_factory.mktemp("dfc")
    wheel = build_dfc_wheel.build(folder)
    build_dfc_wheel.wheelhouse(wheel, folder / "wheelhouse", PYTHON)
    return wheel


@pytest.fixture(scope="module")
def dfc_venv(dfc_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv of its own with the DFC double and its own requirements, installed offline from the wheelhouse."""
    venv = tmp_path_factory.mktemp("dfc-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check", "--no-index", "--find-links", *_offline(dfc_wheel)],
        check=True,
        env=NO_PIP_SETTINGS,
    )
    return venv


def test_the_dfc_cannot_join_our_venv_under_the_lock(dfc_wheel: Path) -> None:
    """What build.yml did before: the DFC into hailo-pipeline's venv, under PIP_CONSTRAINT (the lock)."""
    resolved = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
            *_offline(dfc_wheel),
        ],
        capture_output=True,
        text=True,
        env={**NO_PIP_SETTINGS, "PIP_CONSTRAINT": str(REPO_ROOT / "scripts/venv.lock.txt")},
    )
    assert resolved.returncode != 0
    assert "hailo-dataflow-compiler 3.33.0 depends on numpy==1.26.4" in resolved.stdout + resolved.stderr
    assert locked_version("numpy").startswith("2.")


def test_a_build_compiles_through_the_dfc_in_its_own_venv(dfc_venv: Path, sources: dict[str, Path], tmp_path: Path) -> None:
    own = subprocess.run(
        [str(dfc_venv / "bin/python"), "-c", "import importlib.util as u, numpy; print(numpy.__version__, u.find_spec('hailo_pipeline'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert own.stdout.split() == ["1.26.4", "None"], "the DFC's own NumPy, and no hailo-pipeline there"
    spec = yaml.safe_load((REPO_ROOT / "files/examples/tcn_encoder.yaml").read_text()) | {"calibration": SMALL_CALIBRATION}
    spec["source"] = {"arch": "tcn_encoder", "checkpoint": str(sources["tcn_encoder"])}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    built = subprocess.run(
        [CLI, "build", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "out"), "--json", "--dfc-venv", str(dfc_venv)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "HAILO_PIPELINE_DFC_VENV"},
    )
    assert built.returncode == 0, built.stderr
    result = json.loads(built.stdout)
    assert result["hef"] == "compiled: DFC 3.33.0, HAILO8P"
    manifest = json.loads((Path(result["release_dir"]) / "release.json").read_text())
    assert manifest["toolchain"]["hailo_dataflow_compiler"] == "3.33.0", "asked of the DFC's venv: it is in the build id"
    assert any("less data than the recommended amount" in w for w in manifest["hef"]["dfc_warnings"]), "its log records came back"
    assert "[info] Model Optimization is done" in built.stderr, "the DFC's output, teed (to stderr under --json)"
