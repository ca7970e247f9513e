"""Builds tests/support/doubles/pyhailort_ext/_pyhailort.cpp, the compiled double of HailoRT's `_pyhailort`, with the
pybind11 HailoRT 4.23.0 pins (2.10.1), for this Python (tests only), and the double of Hailo's binding wheel that
carries it:

    python tests/support/doubles/pyhailort_ext/build.py OUTDIR [VERSION]

writes OUTDIR/hailort-VERSION-cpXY-cpXY-linux_<machine>.whl (VERSION default 4.23.0) and prints its path: the
package tests/support/doubles/hailo_platform with the compiled extension in place of its Python one, and Hailo's
requirements (hailo-toolchain.md section 11: `numpy<2, argcomplete, contextlib2, future, netaddr, netifaces`). The
module refuses to import unless libhailort.so.VERSION is where the dynamic loader looks, as the real one does.
pybind11's headers come from its PyPI package, installed once into the cache (pip); a C++ compiler and this
Python's headers from the host.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[4]))
from tests.support.doubles.build_hailort_debs import binding

PYBIND11 = "2.10.1"
HAILO_REQUIRES = ("numpy<2", "argcomplete", "contextlib2", "future", "netaddr", "netifaces")
SOURCE = Path(__file__).with_name("_pyhailort.cpp")


def pybind11_include() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hailo-fleet" / f"pybind11-{PYBIND11}"
    if not (cache / "pybind11" / "include").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(cache), f"pybind11=={PYBIND11}"],
            check=True,
        )
    return cache / "pybind11" / "include"


def build(outdir: Path, version: str = "4.23.0") -> Path:
    """The compiled extension, OUTDIR/_pyhailort<this Python's extension suffix>."""
    outdir.mkdir(parents=True, exist_ok=True)
    module = outdir / f"_pyhailort{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(
        ["c++", "-O1", "-shared", "-fPIC", "-fvisibility=hidden", "-std=c++14", f"-DHAILORT_LIB=\"libhailort.so.{version}\"",
         f"-I{sysconfig.get_paths()['include']}", f"-I{pybind11_include()}", str(SOURCE), "-o", str(module)],
        check=True,
    )  # fmt: skip
    return module


def wheel(outdir: Path, version: str = "4.23.0", requires: tuple[str, ...] = HAILO_REQUIRES) -> Path:
    """Hailo's binding wheel for this Python and machine, declaring `requires`."""
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    path = outdir / f"hailort-{version}-{tag}-{tag}-{sysconfig.get_platform().replace('-', '_')}.whl"
    dist_info = f"hailort-{version}.dist-info"
    with tempfile.TemporaryDirectory() as scratch:
        module = build(Path(scratch), version)
        files = {f"hailo_platform/{name}": text.encode() for name, text in binding(version).items() if name != "pyhailort/_pyhailort.py"}
        files[f"hailo_platform/pyhailort/{module.name}"] = module.read_bytes()
    metadata = "".join(f"Requires-Dist: {r}\n" for r in requires)
    files[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: hailort\nVersion: {version}\n{metadata}".encode()
    files[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: false\nTag: {tag}-{tag}-{path.name.split('-')[-1][:-4]}\n".encode()
    )
    record = [
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for name, data in files.items()
    ]
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,", ""]).encode()
    outdir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


if __name__ == "__main__":
    print(wheel(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "4.23.0"))
