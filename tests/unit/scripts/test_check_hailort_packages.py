"""scripts/check_hailort_packages.py: one HailoRT version for the image's platform and Python, or refused with the reason."""

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.support.doubles.build_hailort_debs import build_deb

SCRIPT = REPO_ROOT / "scripts/check_hailort_packages.py"


def _check(platform: str, python: str, deb: Path, binding: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), platform, python, str(deb), str(binding)], capture_output=True, text=True)


def _wheel(path: Path, *requires: str) -> Path:
    """A wheel with nothing but its METADATA (the check reads the name and the requirements)."""
    version = path.name.split("-")[1]
    metadata = f"Metadata-Version: 2.1\nName: hailort\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"hailort-{version}.dist-info/METADATA", metadata)
    return path


@pytest.fixture
def stack(tmp_path: Path) -> tuple[Path, Path]:
    return build_deb("hailort", "4.23.0", tmp_path), build_deb("python3-hailort", "4.23.0", tmp_path)


def test_a_deb_and_its_binding_at_one_version_pass_and_print_it(stack: tuple[Path, Path]) -> None:
    for platform in ("linux/arm64", "linux/amd64"):  # Architecture: all fits both
        checked = _check(platform, "3.13", *stack)
        assert (checked.returncode, checked.stdout, checked.stderr) == (0, "4.23.0 any\n", "")


@pytest.mark.parametrize(
    ("requires", "numpy"),
    [
        # What Hailo's wheel declares (hailo-toolchain.md section 11): its pybind11 2.10.1 predates NumPy 2's ABI.
        (("numpy<2", "argcomplete", "contextlib2", "future", "netaddr", "netifaces"), "<2"),
        (("numpy>=1.21,<2.0",), "<2"),
        (("numpy>=1.21",), "any"),
        ((), "any"),
    ],
)
def test_a_wheel_for_the_image_python_and_platform_passes_saying_which_numpy_it_needs(
    tmp_path: Path, stack: tuple[Path, Path], requires: tuple[str, ...], numpy: str
) -> None:
    wheel = _wheel(tmp_path / "hailort-4.23.0-cp313-cp313-linux_aarch64.whl", *requires)
    checked = _check("linux/arm64", "3.13", stack[0], wheel)
    assert (checked.returncode, checked.stdout) == (0, f"4.23.0 {numpy}\n"), checked.stderr


def test_a_deb_that_depends_on_numpy_1_says_so() -> None:
    spec = importlib.util.spec_from_file_location("check_hailort_packages", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.deb_numpy({"Depends": "libhailort (= 4.23.0), python3-numpy (<< 1:2)"}) == "<2"
    assert module.deb_numpy({"Depends": "python3-numpy (>= 1:1.24)"}) == "any"
    assert module.deb_numpy({}) == "any"


def test_hailort_older_than_4_18_is_refused_for_its_binding_without_infer_model(tmp_path: Path) -> None:
    checked = _check("linux/arm64", "3.11", build_deb("hailort", "4.17.0", tmp_path), build_deb("python3-hailort", "4.17.0", tmp_path))
    assert checked.returncode == 1
    assert "HailoRT 4.17.0 is older than 4.18: its Python binding has no InferModel API" in checked.stderr
    assert (
        _check("linux/arm64", "3.11", build_deb("hailort", "4.18.0", tmp_path), build_deb("python3-hailort", "4.18.0", tmp_path)).returncode
        == 0
    )


def test_a_wheel_that_is_no_zip_is_refused(tmp_path: Path, stack: tuple[Path, Path]) -> None:
    (tmp_path / "hailort-4.23.0-cp313-cp313-linux_aarch64.whl").write_text("not a wheel")
    checked = _check("linux/arm64", "3.13", stack[0], tmp_path / "hailort-4.23.0-cp313-cp313-linux_aarch64.whl")
    assert "is not a wheel (not a zip archive)" in checked.stderr


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
            "hailort_4.23.0_amd64.deb is for amd64; the image is linux/arm64 (arm64)",
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
    assert reason in _check("linux/arm64", "3.13", stack[0], _wheel(tmp_path / wheel)).stderr


def test_half_a_stack_is_a_usage_error(stack: tuple[Path, Path]) -> None:
    checked = subprocess.run([sys.executable, str(SCRIPT), "linux/arm64", "3.13", str(stack[0]), ""], capture_output=True, text=True)
    assert checked.returncode == 2
    assert "both --hailort and --hailort-binding" in checked.stderr
