"""Test double of the HailoRT stack Raspberry Pi's archive carries for an OS release: packages with the real
names, at one version, holding the files role hailort and the sidecar image read (tests only).

    python tests/doubles/build_hailort_debs.py OUTDIR VERSION PACKAGE...

e.g. `OUTDIR 4.23.0 dkms hailort hailort-pcie-driver python3-hailort` (trixie) or `OUTDIR 4.20.0 hailort hailofw
python3-hailort` (bookworm; role hailort's hailort_stacks lists each stack). Writes OUTDIR/<name>_<V>-1_all.deb
for each, a flat apt repository index OUTDIR/Packages of every .deb there (for `deb [trusted=yes] file:OUTDIR ./`;
run it once per version for an archive with several), and prints
[{"file": ..., "sha256": ...}] as JSON: the shape of the role's hailort_debs. Needs dpkg-deb. What each installs:
  hailort                    /usr/lib/libhailort.so.V (a marker, not a library) and /usr/bin/hailortcli (prints
                             its version; no device to identify)
  hailort-pcie-driver, hailo-dkms
                             /usr/src/hailo_pci-V/dkms.conf, the source DKMS builds hailo_pci from (tests/doubles/
                             modinfo reads its version, as the real modinfo reads the module DKMS built)
  hailofw                    /lib/firmware/hailo/hailo8_fw.bin (a marker)
  python3-hailort            /usr/lib/python3/dist-packages/hailo_platform: tests/doubles/hailo_platform at V,
                             which, like the real binding's compiled _pyhailort, fails to import with the real
                             message unless libhailort.so.V is where the dynamic loader looks
  dkms                       nothing (a prerequisite by name)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import tempfile
from pathlib import Path

DOUBLES = Path(__file__).parent
# Stands in for the loader failure of _pyhailort (hailo-rpi5-examples#193); the dirs are where ld.so looks. Goes
# after the `from __future__` line of the extension's double (its import check, as the real module links {lib}).
PYHAILORT = """
import os as _os

_DIRS = [*filter(None, _os.environ.get("LD_LIBRARY_PATH", "").split(":")), "/usr/local/lib", "/usr/lib", "/lib",
         "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]
if not any(_os.path.exists(_os.path.join(d, "{lib}")) for d in _DIRS):
    raise ImportError("{lib}: cannot open shared object file: No such file or directory")
"""
HAILORTCLI = """#!/bin/sh
# Test double of hailortcli {version} from the hailort package double: its version; no device to talk to.
case "$*" in
  --version) echo "HailoRT-CLI version {version}" ;;
  *) echo "[HailoRT] [error] Scan failed, no Hailo devices found (HAILO_OUT_OF_PHYSICAL_DEVICES(74))" >&2; exit 74 ;;
esac
"""


def binding(version: str) -> dict[str, str]:
    """tests/doubles/hailo_platform at `version`, its files by path in the package; the extension's double
    (pyhailort/_pyhailort.py) first checks that libhailort.so.<version> loads."""
    package = DOUBLES / "hailo_platform"
    files = {p.relative_to(package).as_posix(): p.read_text() for p in sorted(package.rglob("*.py"))}
    files["__init__.py"] = re.sub(r'^__version__ = ".*"$', f'__version__ = "{version}"', files["__init__.py"], count=1, flags=re.M)
    future = "from __future__ import annotations\n"
    files["pyhailort/_pyhailort.py"] = files["pyhailort/_pyhailort.py"].replace(
        future, future + PYHAILORT.format(lib=f"libhailort.so.{version}"), 1
    )
    return files


def package_files(name: str, version: str) -> dict[str, tuple[str, int]]:
    """Path in the package -> (content, mode)."""
    if name == "hailort":
        return {
            f"usr/lib/libhailort.so.{version}": (f"TEST DOUBLE of libhailort {version}\n", 0o644),
            "usr/bin/hailortcli": (HAILORTCLI.format(version=version), 0o755),
        }
    if name in ("hailort-pcie-driver", "hailo-dkms"):
        return {f"usr/src/hailo_pci-{version}/dkms.conf": (f'PACKAGE_NAME="hailo_pci"\nPACKAGE_VERSION="{version}"\n', 0o644)}
    if name == "hailofw":
        return {"lib/firmware/hailo/hailo8_fw.bin": (f"TEST DOUBLE of the Hailo-8 firmware {version}\n", 0o644)}
    if name == "python3-hailort":
        return {f"usr/lib/python3/dist-packages/hailo_platform/{file}": (text, 0o644) for file, text in binding(version).items()}
    if name == "dkms":
        return {}
    raise SystemExit(f"no double of package {name}: hailort, hailort-pcie-driver, hailo-dkms, hailofw, python3-hailort, dkms")


def build_deb(name: str, version: str, outdir: Path, arch: str = "all", files: dict[str, tuple[str, int]] | None = None) -> Path:
    """The double of `name` at `version` (its files, or `files` instead)."""
    deb = outdir / f"{name}_{version}-1_{arch}.deb"
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "DEBIAN").mkdir()
        (Path(root) / "DEBIAN" / "control").write_text(
            f"Package: {name}\nVersion: {version}-1\nArchitecture: {arch}\nMaintainer: hailo-fleet tests <tests@invalid>\n"
            f"Description: TEST DOUBLE of {name} from Raspberry Pi's archive\n"
        )
        for path, (content, mode) in (package_files(name, version) if files is None else files).items():
            target = Path(root) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            target.chmod(mode)
        subprocess.run(["dpkg-deb", "--root-owner-group", "--build", root, str(deb)], check=True, capture_output=True)
    return deb


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def index_entry(deb: Path, sha256: str) -> str:
    control = subprocess.run(["dpkg-deb", "--field", str(deb)], check=True, capture_output=True, text=True).stdout
    return f"{control.rstrip()}\nFilename: ./{deb.name}\nSize: {deb.stat().st_size}\nSHA256: {sha256}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("version")
    parser.add_argument("packages", nargs="+")
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    debs = [build_deb(name, args.version, args.outdir) for name in args.packages]
    everything = sorted(args.outdir.glob("*.deb"))
    (args.outdir / "Packages").write_text("\n".join(index_entry(deb, sha256(deb)) for deb in everything))
    print(json.dumps([{"file": str(deb), "sha256": sha256(deb)} for deb in debs]))


if __name__ == "__main__":
    main()
