"""Test double of Hailo's HailoRT Debian packages: empty packages with the real names and a version, so role
hailort's apt and .deb install paths (pin, hold, checksum check) run where the real ones cannot be had.

    python tests/doubles/build_hailort_debs.py OUTDIR [VERSION]

Writes OUTDIR/<name>_<version>_all.deb for hailort, hailort-pcie-driver and python3-hailort, a flat apt
repository index OUTDIR/Packages (for `deb [trusted=yes] file:OUTDIR ./`), and prints
[{"file": ..., "sha256": ...}] as JSON: the shape of the role's hailort_debs. Needs dpkg-deb. Tests only.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGES = ("hailort", "hailort-pcie-driver", "python3-hailort")


def build_deb(name: str, version: str, outdir: Path) -> Path:
    deb = outdir / f"{name}_{version}_all.deb"
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "DEBIAN").mkdir()
        (Path(root) / "DEBIAN" / "control").write_text(
            f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: hailo-fleet tests <tests@invalid>\n"
            f"Description: TEST DOUBLE of Hailo's {name} (empty)\n"
        )
        subprocess.run(["dpkg-deb", "--root-owner-group", "--build", root, str(deb)], check=True, capture_output=True)
    return deb


def index_entry(deb: Path, sha256: str) -> str:
    control = subprocess.run(["dpkg-deb", "--field", str(deb)], check=True, capture_output=True, text=True).stdout
    return f"{control.rstrip()}\nFilename: ./{deb.name}\nSize: {deb.stat().st_size}\nSHA256: {sha256}\n"


def main(outdir: Path, version: str) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    debs = [build_deb(name, version, outdir) for name in PACKAGES]
    sha256s = [hashlib.sha256(deb.read_bytes()).hexdigest() for deb in debs]
    (outdir / "Packages").write_text("\n".join(map(index_entry, debs, sha256s)))
    print(json.dumps([{"file": str(deb), "sha256": sha256} for deb, sha256 in zip(debs, sha256s, strict=True)]))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python tests/doubles/build_hailort_debs.py OUTDIR [VERSION]")
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) == 3 else "4.23.0")
