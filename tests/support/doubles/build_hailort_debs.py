"""Test double of the HailoRT stack Raspberry Pi's archive carries for an OS release: packages with the real
names, at one version, holding the files role hailort and the sidecar image read (tests only).

    python tests/support/doubles/build_hailort_debs.py OUTDIR VERSION PACKAGE...

e.g. `OUTDIR 4.23.0 dkms hailort hailort-pcie-driver python3-hailort` (trixie) or `OUTDIR 4.20.0 dkms hailort
hailo-dkms hailofw python3-hailort` (bookworm; role hailort's hailort_stacks lists each stack). Writes
OUTDIR/<name>_<version>_all.deb for each (deb_version: a Debian revision only where Raspberry Pi's is known), a flat
apt repository index OUTDIR/Packages of every .deb there (for `deb [trusted=yes] file:OUTDIR ./`; run it once per
version for an archive with several), and prints [{"file": ..., "sha256": ...}] as JSON: the shape of the role's
hailort_debs. Needs dpkg-deb. What each installs:
  hailort                    /usr/lib/libhailort.so.V (a marker, not a library), /usr/bin/hailortcli (prints its
                             version; no device to identify), and HailoRT's multi-process service: hailort.service in
                             /lib/systemd/system, its EnvironmentFile /etc/default/hailort_service and
                             /usr/local/bin/hailort_service (tests/support/hailort_service_standin.py, daemonized as the unit's
                             Type=forking wants). HailoRT's source was checked (hailort/hailort_service/hailort.service
                             and CMakeLists.txt, which installs the unit to /lib/systemd/system/); what Raspberry Pi's
                             package installs was not seen.
  hailort-pcie-driver, hailo-dkms
                             /usr/src/hailo_pci-V/dkms.conf (hailort-drivers linux/pcie/dkms.conf.in: the module goes
                             to /updates/dkms); the postinst builds it with dkms where dkms is installed (hailo-dkms
                             depends on dkms, as a DKMS package does; hailort-pcie-driver does not), and a build that
                             fails leaves the package installed without a module
  hailofw                    /lib/firmware/hailo/hailo8_fw.bin (a marker), /etc/modprobe.d/hailo_pci.conf (hailort-
                             drivers linux/pcie/hailo_pci.conf) and /lib/udev/rules.d/60-hailofw.rules
  python3-hailort            /usr/lib/python3/dist-packages/hailo_platform: tests/support/doubles/hailo_platform at V,
                             which, like the real binding's compiled _pyhailort, fails to import with the real
                             message unless libhailort.so.V is where the dynamic loader looks
  dkms                       /usr/sbin/dkms: `install` puts the module DKMS would build at
                             /lib/modules/<kernel>/updates/dkms/hailo_pci.ko (a marker holding its version, which
                             tests/support/doubles/modinfo reads), or fails as DKMS does without the kernel's headers (the
                             stand-in /var/lib/hailo-standin/no-kernel-headers); `remove` deletes it
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
# Debian revisions of Raspberry Pi's packages, where known (hailo-toolchain.md section 7: Raspberry Pi's pins and the
# hailo-dkms_4.20.0-1 in its archive). The others carry none, as Hailo's own .debs are versioned (hailort_4.23.0_arm64.deb):
# Raspberry Pi's revisions of them (hailofw, bookworm's 4.18 and 4.20 hailort, trixie's 4.23 packages) are not known here.
RASPBERRY_PI_REVISIONS = {
    ("hailort", "4.19.0"): "3",
    ("python3-hailort", "4.19.0"): "2",
    ("python3-hailort", "4.20.0"): "1",  # bookworm, beside hailo-all 4.20.0+1 (hailo-rpi5-examples#193)
    ("hailo-dkms", "4.18.0"): "2",
    ("hailo-dkms", "4.19.0"): "1",
    ("hailo-dkms", "4.20.0"): "1",
}
# HailoRT's unit (hailort v4.23.0 hailort/hailort_service/hailort.service, field for field) and its EnvironmentFile
# (hailort/hailort_service/hailort_service, the defaults it documents).
HAILORT_SERVICE_UNIT = """[Unit]
Description=HailoRT service (TEST DOUBLE: its socket only)

[Service]
Type=forking
EnvironmentFile=/etc/default/hailort_service
ExecStart=/usr/local/bin/hailort_service
Restart=on-failure
RemainAfterExit=yes
PIDFile=/run/hailo/hailort_service.pid
ExecReload=/bin/kill -HUP $MAINPID
ExecStartPost=/bin/sleep 0.1

[Install]
WantedBy=multi-user.target
"""
HAILORT_SERVICE_ENV = """# TEST DOUBLE of HailoRT's environment file for hailort.service (its defaults).
[Service]
HAILORT_LOGGER_PATH="/var/log/hailo"
HAILO_DISABLE_MULTIPLEXER=0
HAILO_ENABLE_MULTI_DEVICE_SCHEDULER=0
SCHEDULER_MONITOR=0
"""
HAILORT_SERVICE = """#!/bin/sh
# TEST DOUBLE of hailort_service: forks the socket stand-in and leaves its pid where the unit's PIDFile says.
mkdir -p /run/hailo
python3 /usr/share/hailort-double/hailort_service_standin.py /tmp/hailort_uds.sock </dev/null >/dev/null 2>&1 &
echo $! > /run/hailo/hailort_service.pid
"""
# hailort-drivers linux/pcie/hailo_pci.conf, as hailofw installs it to /etc/modprobe.d.
HAILO_PCI_CONF = """# Modprobe information used for Hailo PCIe driver, edit this file when needed.

# Disables automatic D0->D3 transition, should be set on platforms that
# does not support such transition.
#options hailo_pci no_power_mode=N

# Determines the maximum DMA descriptor page size (must be a power of 2), needs to be
# set on platforms that does not support large pcie transactions.
#options hailo_pci force_desc_page_size=4096
"""
# Raspberry Pi's hailofw ships /lib/udev/rules.d/60-hailofw.rules (seen in `dpkg -L hailofw` at 4.18), but its contents
# were NOT seen: this one gives what one third-party Pi showed for the node, crw-rw---- root hailo (hailo-toolchain.md
# section 7). Its postinst makes the group, which that owner implies.
HAILOFW_RULES = """# TEST DOUBLE of Raspberry Pi's 60-hailofw.rules (contents inferred, not seen)
SUBSYSTEM=="hailo_chardev", GROUP="hailo", MODE="0660"
"""
HAILOFW_POSTINST = """#!/bin/sh
set -e
getent group hailo >/dev/null || groupadd --system hailo
"""
# Where DKMS installs the module it built (dkms.conf.in: DEST_MODULE_LOCATION=/updates/dkms).
DKMS = r"""#!/bin/sh
# TEST DOUBLE of dkms for hailo_pci: dkms install|remove -m hailo_pci -v VERSION.
kernel=$(uname -r)
module=/lib/modules/$kernel/updates/dkms/hailo_pci.ko
case "$1" in
  install)
    if [ -e /var/lib/hailo-standin/no-kernel-headers ]; then
      echo "Error! Your kernel headers for kernel $kernel cannot be found at /lib/modules/$kernel/build or /lib/modules/$kernel/source." >&2
      exit 1
    fi
    mkdir -p "$(dirname "$module")" && printf 'TEST DOUBLE of hailo_pci.ko
version=%s
' "$5" > "$module" ;;
  remove) rm -f "$module" ;;
  *) echo "dkms double: '$*' is not simulated" >&2; exit 2 ;;
esac
"""
# The driver packages' maintainer scripts: build with DKMS where it is installed; a failed build leaves the package
# installed without its module (whether Raspberry Pi's postinst then fails the install was not seen).
DRIVER_POSTINST = """#!/bin/sh
if command -v dkms >/dev/null; then
  dkms install -m hailo_pci -v {version} || echo "hailo_pci {version} was not built: the kernel keeps its own driver" >&2
fi
exit 0
"""
DRIVER_PRERM = """#!/bin/sh
if command -v dkms >/dev/null; then dkms remove -m hailo_pci -v {version} --all; fi
exit 0
"""
HAILORTCLI = """#!/bin/sh
# Test double of hailortcli {version} from the hailort package double, on a host without a device, as HailoRT
# 4.23.0 built from source behaves there (hailo-toolchain.md section 11): scan finds nothing and exits 0; whatever
# needs a device exits 74 (HAILO_OUT_OF_PHYSICAL_DEVICES) after libhailort's log line (seen for `run`; the other
# subcommands' exact text was not seen).
case "$1" in
  --version) echo "HailoRT-CLI version {version}" ;;
  scan) echo "Hailo devices not found" ;;
  *) echo "[HailoRT] [error] CHECK failed - Failed to create vdevice. there are not enough free devices. requested: 1, found: 0" >&2
     exit 74 ;;
esac
"""


def binding(version: str) -> dict[str, str]:
    """tests/support/doubles/hailo_platform at `version`, its files by path in the package; the extension's double
    (pyhailort/_pyhailort.py) first checks that libhailort.so.<version> loads."""
    package = DOUBLES / "hailo_platform"
    files = {p.relative_to(package).as_posix(): p.read_text() for p in sorted(package.rglob("*.py"))}
    files["__init__.py"] = re.sub(r'^__version__ = ".*"$', f'__version__ = "{version}"', files["__init__.py"], count=1, flags=re.M)
    future = "from __future__ import annotations\n"
    files["pyhailort/_pyhailort.py"] = files["pyhailort/_pyhailort.py"].replace(
        future, future + PYHAILORT.format(lib=f"libhailort.so.{version}"), 1
    )
    return files


def deb_version(name: str, version: str) -> str:
    """The package's Debian version: upstream, with Raspberry Pi's revision where it is known."""
    revision = RASPBERRY_PI_REVISIONS.get((name, version))
    return f"{version}-{revision}" if revision else version


def package_files(name: str, version: str) -> dict[str, tuple[str, int]]:
    """Path in the package -> (content, mode); DEBIAN/ holds its maintainer scripts."""
    if name == "hailort":
        return {
            f"usr/lib/libhailort.so.{version}": (f"TEST DOUBLE of libhailort {version}\n", 0o644),
            "usr/bin/hailortcli": (HAILORTCLI.format(version=version), 0o755),
            "lib/systemd/system/hailort.service": (HAILORT_SERVICE_UNIT, 0o644),
            "etc/default/hailort_service": (HAILORT_SERVICE_ENV, 0o644),
            "usr/local/bin/hailort_service": (HAILORT_SERVICE, 0o755),
            "usr/share/hailort-double/hailort_service_standin.py": ((DOUBLES.parent / "hailort_service_standin.py").read_text(), 0o644),
        }
    if name in ("hailort-pcie-driver", "hailo-dkms"):
        return {
            f"usr/src/hailo_pci-{version}/dkms.conf": (
                f"PACKAGE_NAME=hailo_pci\nPACKAGE_VERSION={version}\nBUILT_MODULE_NAME=hailo_pci\nDEST_MODULE_LOCATION=/updates/dkms\n",
                0o644,
            ),
            "DEBIAN/postinst": (DRIVER_POSTINST.format(version=version), 0o755),
            "DEBIAN/prerm": (DRIVER_PRERM.format(version=version), 0o755),
        }
    if name == "hailofw":
        return {
            "lib/firmware/hailo/hailo8_fw.bin": (f"TEST DOUBLE of the Hailo-8 firmware {version}\n", 0o644),
            "etc/modprobe.d/hailo_pci.conf": (HAILO_PCI_CONF, 0o644),
            "lib/udev/rules.d/60-hailofw.rules": (HAILOFW_RULES, 0o644),
            "DEBIAN/postinst": (HAILOFW_POSTINST, 0o755),
        }
    if name == "python3-hailort":
        return {f"usr/lib/python3/dist-packages/hailo_platform/{file}": (text, 0o644) for file, text in binding(version).items()}
    if name == "dkms":
        return {"usr/sbin/dkms": (DKMS, 0o755)}
    raise SystemExit(f"no double of package {name}: hailort, hailort-pcie-driver, hailo-dkms, hailofw, python3-hailort, dkms")


def build_deb(name: str, version: str, outdir: Path, arch: str = "all", files: dict[str, tuple[str, int]] | None = None) -> Path:
    """The double of `name` at `version` (its files, or `files` instead)."""
    debian_version = deb_version(name, version)
    deb = outdir / f"{name}_{debian_version}_{arch}.deb"
    depends = "Depends: dkms\n" if name == "hailo-dkms" and files is None else ""
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "DEBIAN").mkdir()
        (Path(root) / "DEBIAN" / "control").write_text(
            f"Package: {name}\nVersion: {debian_version}\nArchitecture: {arch}\n{depends}"
            f"Maintainer: hailo-fleet tests <tests@invalid>\nDescription: TEST DOUBLE of {name} from Raspberry Pi's archive\n"
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
