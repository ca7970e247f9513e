"""Role hailort's stacks and the package doubles Molecule installs them from, against what Raspberry Pi's archive and
HailoRT's source hold (hailo-toolchain.md section 7; hailort v4.23.0 hailort/hailort_service/)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from hailo_pipeline.hailo.compat import OLDEST_HAILORT, version_key
from tests.conftest import REPO_ROOT
from tests.support.doubles.build_hailort_debs import build_deb

ROLE = REPO_ROOT / "roles/hailort"
STACKS = yaml.safe_load((ROLE / "defaults/main.yml").read_text())["hailort_stacks"]


def test_no_stack_is_older_than_the_first_hailort_with_python_infermodel() -> None:
    """v4.17.0's pyhailort.py has no InferModel / create_infer_model (first in v4.18.0): the sidecar cannot run on it."""
    assert yaml.safe_load((ROLE / "vars/main.yml").read_text())["__hailort_oldest"] == OLDEST_HAILORT == "4.18.0"
    versions = [version for stack in STACKS.values() for version in stack["versions"]]
    assert min(versions, key=version_key) == OLDEST_HAILORT


def test_every_bookworm_stack_builds_its_driver_with_hailo_dkms() -> None:
    """Bookworm's kernel hailo_pci moves with each (unheld) kernel upgrade; hailo-dkms_4.20.0-1 exists, and its
    module in updates/dkms outranks the kernel's."""
    assert {version: "hailo-dkms" in packages for version, packages in STACKS["bookworm"]["versions"].items()} == {
        "4.18.0": True,
        "4.19.0": True,
        "4.20.0": True,
    }


def _field(deb: Path, field: str) -> str:
    return subprocess.run(["dpkg-deb", "--field", str(deb), field], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize(
    ("name", "version", "debian_version"),
    [
        ("hailort", "4.19.0", "4.19.0-3"),  # Raspberry Pi's pins: hailort=4.19.0-3 hailo-dkms=4.19.0-1 python3-hailort=4.19.0-2
        ("python3-hailort", "4.19.0", "4.19.0-2"),
        ("hailo-dkms", "4.19.0", "4.19.0-1"),
        ("hailo-dkms", "4.20.0", "4.20.0-1"),
        ("python3-hailort", "4.20.0", "4.20.0-1"),  # hailo-rpi5-examples#193: bookworm beside hailo-all 4.20.0+1
        ("hailort", "4.23.0", "4.23.0"),  # revision not known: none, as Hailo's own hailort_4.23.0_arm64.deb
        ("hailort-pcie-driver", "4.23.0", "4.23.0"),
    ],
)
def test_a_double_carries_a_debian_revision_only_where_raspberry_pis_is_known(
    tmp_path: Path, name: str, version: str, debian_version: str
) -> None:
    deb = build_deb(name, version, tmp_path)
    assert deb.name == f"{name}_{debian_version}_all.deb"
    assert _field(deb, "Version") == debian_version


def test_hailort_ships_hailorts_own_service_unit_and_what_it_starts(tmp_path: Path) -> None:
    deb = build_deb("hailort", "4.23.0", tmp_path)
    unpacked = tmp_path / "root"
    subprocess.run(["dpkg-deb", "--extract", str(deb), str(unpacked)], check=True)
    unit = (unpacked / "lib/systemd/system/hailort.service").read_text().splitlines()
    for line in ("Type=forking", "EnvironmentFile=/etc/default/hailort_service", "ExecStart=/usr/local/bin/hailort_service",
                 "PIDFile=/run/hailo/hailort_service.pid"):  # fmt: skip
        assert line in unit
    assert (unpacked / "etc/default/hailort_service").is_file()
    assert (unpacked / "usr/local/bin/hailort_service").stat().st_mode & 0o111


def test_hailofw_ships_the_firmware_the_modprobe_options_and_raspberry_pis_udev_rule(tmp_path: Path) -> None:
    deb = build_deb("hailofw", "4.20.0", tmp_path)
    listed = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True).stdout
    for path in ("./lib/firmware/hailo/hailo8_fw.bin", "./etc/modprobe.d/hailo_pci.conf", "./lib/udev/rules.d/60-hailofw.rules"):
        assert path in listed
    assert _field(build_deb("hailo-dkms", "4.20.0", tmp_path), "Depends") == "dkms", "a DKMS package needs dkms"
