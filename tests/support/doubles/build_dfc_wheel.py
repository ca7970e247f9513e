"""Packs the DFC double (hailo_sdk_client + hef_builder) into a wheel named like Hailo's, with the requirements
its METADATA declares (Requires-Python, an exact NumPy 1 pin, ...), so playbooks and tests can install,
version-check and run it as they would the real DFC:

    python tests/support/doubles/build_dfc_wheel.py OUTDIR [--wheelhouse X.Y] [--requires-python SPEC] [--numpy VERSION]

--wheelhouse X.Y also downloads the wheel's requirements for CPython X.Y on x86_64 Linux into OUTDIR/wheelhouse
(with pip download, where there is an index: what an operator does for an offline GPUSrv).
--requires-python / --numpy make a DFC that declares other requirements (e.g. DFC <= 3.32: Python 3.10 only; DFC
3.30: numpy==1.23.3), for the playbook's refusals.
The wheel is byte-identical for identical sources (fixed timestamps, sorted entries): its sha256 is stable.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

DOUBLES = Path(__file__).parent
DIST_INFO = "hailo_dataflow_compiler-3.33.0.dist-info"
WHEEL_NAME = "hailo_dataflow_compiler-3.33.0-py3-none-linux_x86_64.whl"
WHEEL_META = "Wheel-Version: 1.0\nGenerator: hailo-pipeline tests\nRoot-Is-Purelib: true\nTag: py3-none-linux_x86_64\n"
# Platform tags of x86_64 Linux wheels that Debian 12/Ubuntu 22.04's glibc runs, newest first.
_PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64"]


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def metadata(requires_python: str | None = None, numpy: str | None = None) -> str:
    """The double's METADATA, with Requires-Python and the NumPy pin replaced when given."""
    text = (DOUBLES / DIST_INFO / "METADATA").read_text()
    if requires_python is not None:
        text = re.sub(r"(?m)^Requires-Python: .*$", f"Requires-Python: {requires_python}", text)
    if numpy is not None:
        text = re.sub(r"(?m)^Requires-Dist: numpy==.*$", f"Requires-Dist: numpy=={numpy}", text)
    return text


def build(out_dir: Path, requires_python: str | None = None, numpy: str | None = None) -> Path:
    sources = [*sorted(DOUBLES.glob("hailo_sdk_client/**/*.py")), DOUBLES / "hef_builder.py"]
    entries = {p.relative_to(DOUBLES).as_posix(): p.read_bytes() for p in sources}
    entries[f"{DIST_INFO}/METADATA"] = metadata(requires_python, numpy).encode()
    entries[f"{DIST_INFO}/WHEEL"] = WHEEL_META.encode()
    record = [_record_line(name, data) for name, data in entries.items()] + [f"{DIST_INFO}/RECORD,,"]
    entries[f"{DIST_INFO}/RECORD"] = ("\n".join(record) + "\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / WHEEL_NAME
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return wheel


def wheelhouse(wheel: Path, out_dir: Path, python: str) -> Path:
    """The wheel's requirements (never hailo-pipeline's lock) for CPython `python` on x86_64 Linux, in out_dir."""
    target = ["--python-version", python, "--implementation", "cp", *(arg for tag in _PLATFORMS for arg in ("--platform", tag))]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--disable-pip-version-check",
            "-d",
            str(out_dir),
            "--only-binary=:all:",
            *target,
            str(wheel),
        ],
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PIP_")},  # no PIP_CONSTRAINT of the caller's
    )
    (out_dir / wheel.name).unlink(missing_ok=True)  # the DFC itself comes from the operator, not from here
    return out_dir


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--wheelhouse", metavar="X.Y", help="also download the requirements for CPython X.Y")
    parser.add_argument("--requires-python", metavar="SPEC")
    parser.add_argument("--numpy", metavar="VERSION")
    args = parser.parse_args()
    built = build(args.out_dir, args.requires_python, args.numpy)
    if args.wheelhouse:
        wheelhouse(built, args.out_dir / "wheelhouse", args.wheelhouse)
    print(built)
