"""scripts/check_hailort_packages.py: one HailoRT version for the image's platform and Python, or refused with the reason."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.doubles.build_hailort_debs import build_deb

SCRIPT = REPO_ROOT / "scripts/check_hailort_packages.py"


def _check(platform: str, python: str, deb: Path, binding: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), platform, python, str(deb), str(binding)], capture_output=True, text=True)


@pytest.fixture
def stack(tmp_path: Path) -> tuple[Path, Path]:
    return build_deb("hailort", "4.23.0", tmp_path), build_deb("python3-hailort", "4.23.0", tmp_path)


def test_a_deb_and_its_binding_at_one_version_pass_and_print_it(stack: tuple[Path, Path]) -> None:
    for platform in ("linux/arm64", "linux/amd64"):  # Architecture: all fits both
        checked = _check(platform, "3.13", *stack)
        assert (checked.returncode, checked.stdout, checked.stderr) == (0, "4.23.0\n", "")


def test_a_wheel_for_the_image_python_and_platform_passes(tmp_path: Path, stack: tuple[Path, Path]) -> None:
    wheel = tmp_path / "hailort-4.23.0-cp313-cp313-linux_aarch64.whl"
    wheel.touch()
    assert _check("linux/arm64", "3.13", stack[0], wheel).stdout == "4.23.0\n"


@pytest.mark.parametrize(
    ("deb", "binding", "platform", "python", "reason"),
    [
        (
            ("hailort", "4.23.0"),
            ("python3-hailort", "4.20.0"),
            "linux/arm64",
            "3.13",
            "the binding python3-hailort_4.20.0-1_all.deb is HailoRT 4.20.0, the hailort .deb 4.23.0: an image carries exactly one version",
        ),
        (
            ("hailort-pcie-driver", "4.23.0"),
            ("python3-hailort", "4.23.0"),
            "linux/arm64",
            "3.13",
            "is package hailort-pcie-driver, not hailort",
        ),
        (
            ("hailort", "4.23.0", "amd64"),
            ("python3-hailort", "4.23.0"),
            "linux/arm64",
            "3.13",
            "hailort_4.23.0-1_amd64.deb is for amd64; the image is linux/arm64 (arm64)",
        ),
        (("hailort", "4.23.0"), ("hailort", "4.23.0"), "linux/arm64", "3.13", "is package hailort, not python3-hailort"),
    ],
)
def test_what_cannot_make_one_hailort_is_refused(
    tmp_path: Path, deb: tuple[str, ...], binding: tuple[str, ...], platform: str, python: str, reason: str
) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "b").mkdir()
    checked = _check(platform, python, build_deb(*deb[:2], tmp_path / "d", *deb[2:]), build_deb(*binding[:2], tmp_path / "b", *binding[2:]))
    assert checked.returncode == 1
    assert reason in checked.stderr


def test_a_hailort_deb_without_its_library_is_refused(tmp_path: Path, stack: tuple[Path, Path]) -> None:
    (tmp_path / "cli").mkdir()
    cli_only = build_deb("hailort", "4.23.0", tmp_path / "cli", files={"usr/bin/hailortcli": ("#!/bin/sh\n", 0o755)})
    checked = _check("linux/arm64", "3.13", cli_only, stack[1])
    assert "(hailort 4.23.0) lacks /usr/lib/libhailort.so.4.23.0" in checked.stderr


def test_a_binding_compiled_for_another_python_is_refused(tmp_path: Path, stack: tuple[Path, Path]) -> None:
    (tmp_path / "py311").mkdir()
    files = {
        "usr/lib/python3/dist-packages/hailo_platform/__init__.py": ("", 0o644),
        "usr/lib/python3/dist-packages/hailo_platform/pyhailort/_pyhailort.cpython-311-aarch64-linux-gnu.so": ("", 0o644),
    }
    bookworm = build_deb("python3-hailort", "4.23.0", tmp_path / "py311", files=files)
    assert "is built for Python 311; the image's Python is 3.13" in _check("linux/arm64", "3.13", stack[0], bookworm).stderr


@pytest.mark.parametrize(
    ("wheel", "reason"),
    [
        ("hailort-4.23.0-cp311-cp311-linux_aarch64.whl", "is built for cp311; the image's Python is 3.13 (cp313)"),
        ("hailort-4.23.0-cp313-cp313-linux_x86_64.whl", "is for linux_x86_64; the image is linux/arm64 (aarch64)"),
        ("hailort-4.22.0-cp313-cp313-linux_aarch64.whl", "is HailoRT 4.22.0, the hailort .deb 4.23.0"),
    ],
)
def test_a_wheel_that_does_not_fit_is_refused(tmp_path: Path, stack: tuple[Path, Path], wheel: str, reason: str) -> None:
    (tmp_path / wheel).touch()
    assert reason in _check("linux/arm64", "3.13", stack[0], tmp_path / wheel).stderr


def test_half_a_stack_is_a_usage_error(stack: tuple[Path, Path]) -> None:
    checked = subprocess.run([sys.executable, str(SCRIPT), "linux/arm64", "3.13", str(stack[0]), ""], capture_output=True, text=True)
    assert checked.returncode == 2
    assert "both --hailort and --hailort-binding" in checked.stderr
