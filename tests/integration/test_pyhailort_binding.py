"""The compiled HailoRT binding double (tests/support/doubles/pyhailort_ext), built from C++ with pybind11 2.10.1,
and NumPy 1.26.4 installed from the package index: the trap hailo-toolchain.md section 11 describes, end to end.
Slow (a C++ build and a pip install), so not in the unit loop; test_hailort_backend covers the adapter itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, ExampleBuilds, locked_version

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def compiled(example_builds: ExampleBuilds) -> Path:
    return example_builds.tcn(compiled=True)


# The compiled double (tests/support/doubles/pyhailort_ext): HailoRT's pybind11 2.10.1 under this venv's NumPy 2 and under
# NumPy 1.26.4, in a subprocess each. _PROBE prints what the product's probe says and what an InferModel run does.
_PROBE = """
import sys
from pathlib import Path
import numpy as np
from hailo_pipeline.hailo import hailort_backend
from hailo_platform.pyhailort import _pyhailort
print(np.__version__, _pyhailort.__file__.endswith(".so"))
print(hailort_backend.buffer_problem())
backend = hailort_backend.HailoBackend(Path(sys.argv[1]), 1000)
try:
    print(backend.run(np.zeros(backend.input_shape, np.float32)).shape)
except Exception as exc:
    print(hailort_backend.hailort_failure(exc))
"""


@pytest.fixture(scope="module")
def compiled_binding(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose hailo_platform is the double with the compiled _pyhailort (and its libhailort)."""
    from tests.support.doubles.pyhailort_ext.build import build

    site = tmp_path_factory.mktemp("site")
    shutil.copytree(
        REPO_ROOT / "tests/support/doubles/hailo_platform", site / "hailo_platform", ignore=shutil.ignore_patterns("__pycache__")
    )
    (site / "hailo_platform/pyhailort/_pyhailort.py").unlink()
    build(site / "hailo_platform/pyhailort")
    lib = tmp_path_factory.mktemp("lib")
    (lib / "libhailort.so.4.23.0").touch()
    return {**os.environ, "PYTHONPATH": str(site), "LD_LIBRARY_PATH": str(lib)}


@pytest.fixture(scope="module")
def numpy1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NumPy 1.26.4 for this Python, the NumPy Hailo's wheel declares (numpy<2)."""
    target = tmp_path_factory.mktemp("numpy1")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--only-binary=:all:", "--target", str(target), "numpy==1.26.4"]
    subprocess.run(pip, check=True, capture_output=True)
    return target


def _probe(env: dict[str, str], compiled: Path) -> list[str]:
    ran = subprocess.run([sys.executable, "-c", _PROBE, str(compiled / "model.hef")], env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.splitlines()


def test_the_compiled_double_reproduces_the_numpy_2_trap(compiled_binding: dict[str, str], compiled: Path) -> None:
    """Under NumPy 2 a pybind11 2.10.1 module builds arrays that repeat element 0 and sees 0 bytes in the arrays it
    is handed (hailo-toolchain.md section 11): the probe says so, and InferModel's run() gets 0-byte buffers."""
    loaded, problem, run = _probe(compiled_binding, compiled)
    version, extension = loaded.split()
    assert (version, extension) == (locked_version("numpy"), "True")
    assert version.startswith("2.")
    assert problem == (
        f"HailoRT's binding reads buffers wrong under numpy {version}: an array it builds over bytes 1..16 "
        f"(DetectionWithByteMask.mask()) reads back {[1] * 16}; it was built for NumPy 1 (pybind11 < 2.12): "
        "give it numpy<2, or use a binding built with pybind11 >= 2.12"
    )
    assert (
        run
        == "HailoRTInvalidOperationException: Invalid operation. See hailort.log for more information (from HailoRTStatusException('6'))"
    )


def test_the_compiled_double_is_right_under_numpy_1(compiled_binding: dict[str, str], numpy1: Path, compiled: Path) -> None:
    env = {**compiled_binding, "PYTHONPATH": f"{numpy1}:{compiled_binding['PYTHONPATH']}"}
    assert _probe(env, compiled) == ["1.26.4 True", "None", "(64,)"]
