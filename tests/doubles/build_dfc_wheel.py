"""Packs the DFC double (hailo_sdk_client + hef_builder) into a wheel named like Hailo's, so playbooks can
install, version-check and run it as they would the real DFC:  python tests/doubles/build_dfc_wheel.py OUTDIR

The wheel is byte-identical for identical sources (fixed timestamps, sorted entries): its sha256 is stable.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path

DOUBLES = Path(__file__).parent
DIST_INFO = "hailo_dataflow_compiler-3.33.0.dist-info"
WHEEL_NAME = "hailo_dataflow_compiler-3.33.0-py3-none-linux_x86_64.whl"
WHEEL_META = "Wheel-Version: 1.0\nGenerator: hailo-pipeline tests\nRoot-Is-Purelib: true\nTag: py3-none-linux_x86_64\n"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build(out_dir: Path) -> Path:
    sources = [*sorted(DOUBLES.glob("hailo_sdk_client/**/*.py")), DOUBLES / "hef_builder.py"]
    entries = {p.relative_to(DOUBLES).as_posix(): p.read_bytes() for p in sources}
    entries[f"{DIST_INFO}/METADATA"] = (DOUBLES / DIST_INFO / "METADATA").read_bytes()
    entries[f"{DIST_INFO}/WHEEL"] = WHEEL_META.encode()
    record = [_record_line(name, data) for name, data in entries.items()] + [f"{DIST_INFO}/RECORD,,"]
    entries[f"{DIST_INFO}/RECORD"] = ("\n".join(record) + "\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / WHEEL_NAME
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return wheel


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/doubles/build_dfc_wheel.py OUTDIR")
    print(build(Path(sys.argv[1])))
