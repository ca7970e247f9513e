"""A program a role runs on a Pi in place of a module: hailort's probe (an executable local fact), run here as it
runs there, with a double of hailortcli on PATH. (Role hailo_sidecar's host logic is in modules: test_hailo_sidecar_*.)"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import jinja2

from tests.conftest import REPO_ROOT


def on_path(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    (folder / name).chmod(0o755)


def probe(tmp_path: Path, loaded: str | None, firmware: str | None = None) -> dict[str, object]:
    """Role hailort's probe, rendered as the role renders it, run with hailortcli's double on PATH (its device's
    firmware `firmware`, else the double's 4.23.0)."""
    template = (REPO_ROOT / "roles/hailort/templates/hailort.fact.j2").read_text()
    version_file = tmp_path / "hailo_pci_version"
    if loaded is not None:
        version_file.write_text(loaded)
    script = tmp_path / "hailort.fact"
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.filters["quote"] = shlex.quote  # what Ansible's quote filter is
    script.write_text(
        environment.from_string(template).render(ansible_managed="test", hailort_driver_loaded_version_file=str(version_file))
    )
    script.chmod(0o755)
    bin_dir = tmp_path / "bin"
    if not (bin_dir / "hailortcli").exists():
        on_path(bin_dir, "hailortcli", (REPO_ROOT / "tests/support/doubles/hailortcli").read_text())
    standin = tmp_path / "standin"
    standin.mkdir(exist_ok=True)
    if firmware is not None:
        (standin / "firmware-version").write_text(firmware)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HAILO_STANDIN_DIR": str(standin)}
    done = subprocess.run([str(script)], capture_output=True, text=True, env=env, check=True)
    return dict(json.loads(done.stdout))


def test_the_probe_reports_the_loaded_driver_the_library_and_the_device_architecture(tmp_path: Path) -> None:
    found = probe(tmp_path, "4.23.0\n")
    assert found == {
        "device_present": Path("/dev/hailo0").exists(),
        "driver_loaded_version": "4.23.0",
        "driver_installed_version": None,  # no hailo_pci module on this machine's disk
        "library_version": "4.23.0",
        "device_architecture": "HAILO8L",
        "firmware_version": "4.23.0",
    }


def test_the_probe_reports_the_devices_firmware_version(tmp_path: Path) -> None:
    """HailoRT refuses a firmware of another major.minor (HAILO_UNSUPPORTED_FW_VERSION): fit needs the device's."""
    assert probe(tmp_path, "4.23.0", firmware="4.22.0\n")["firmware_version"] == "4.22.0"


def test_the_probe_says_null_for_what_is_absent_and_stays_json_whatever_a_file_holds(tmp_path: Path) -> None:
    assert probe(tmp_path, None)["driver_loaded_version"] is None
    assert probe(tmp_path, '4.20.0"}, "x": "\n')["driver_loaded_version"] == "4.20.0x"
    (tmp_path / "bin/hailortcli").write_text("#!/bin/sh\nexit 127\n")
    found = probe(tmp_path, "4.23.0")
    assert found["library_version"] is None
    assert found["device_architecture"] is None
    assert found["firmware_version"] is None
