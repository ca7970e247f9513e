"""scripts/check_wheelhouse.py: a wheelhouse for another platform holds the lock's versions or is refused."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts/check_wheelhouse.py"
LOCK = "onnxruntime==1.32.0\nnumpy==2.4.6\ntorch==2.13.0\nPyYAML==6.0.3\n"


def _check(tmp_path: Path, *files: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "lock.txt").write_text(LOCK)
    house = tmp_path / "wheels"
    house.mkdir()
    for name in files:
        (house / name).touch()
    return subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "lock.txt"), str(house)], capture_output=True, text=True)


def test_the_locked_versions_pass_local_build_labels_and_sdists_included(tmp_path: Path) -> None:
    checked = _check(
        tmp_path,
        "onnxruntime-1.32.0-cp313-cp313-manylinux_2_28_aarch64.whl",
        "numpy-2.4.6-cp313-cp313-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "pyyaml-6.0.3.tar.gz",
    )
    assert checked.returncode == 0, checked.stderr


def test_an_older_release_pip_fell_back_to_is_refused_by_name(tmp_path: Path) -> None:
    checked = _check(tmp_path, "onnxruntime-1.16.3-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl")
    assert checked.returncode == 1
    assert "onnxruntime 1.16.3, but lock.txt pins 1.32.0" in checked.stderr


def test_a_package_the_lock_does_not_know_is_refused(tmp_path: Path) -> None:
    checked = _check(tmp_path, "sympy-1.14.0-py3-none-any.whl")
    assert checked.returncode == 1
    assert "sympy is not in lock.txt" in checked.stderr


def test_an_empty_wheelhouse_is_refused(tmp_path: Path) -> None:
    checked = _check(tmp_path)
    assert checked.returncode == 1
    assert "holds no packages" in checked.stderr
