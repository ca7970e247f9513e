"""Role edge_preflight: its module (library/edge_preflight_hardware.py) reads a Pi's hardware (run here with doubles
of vcgencmd, lspci, docker and HailoRT, and a stand-in /proc), and its verdict refuses or warns on each bad reading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, role_filter_plugin
from tests.support.ansible_module import run_module

verdict = role_filter_plugin("edge_preflight", "edge_preflight").edge_preflight_verdict
SIDECAR_ID = "a" * 64
LIMITS: dict[str, Any] = {
    "pcie_warn_below_gts": 8.0, "pcie_refuse_below_gts": 0.0, "soc_temp_c_warn": 75.0, "soc_temp_c_refuse": 85.0,
    "hailo_temp_c_warn": 85.0, "hailo_temp_c_refuse": 100.0, "free_mb_warn": 4096, "free_mb_refuse": 1024,
    "mem_mb_warn": 512, "mem_mb_refuse": 256, "device": "/dev/hailo0", "own_containers": ["hailo-inference", "hailo-inference-next"],
    "own_commands": ["hailort_service"], "require": [],
}  # fmt: skip
GOOD: dict[str, Any] = {
    "throttled": 0, "pcie": {"speed_gts": 8.0, "width": 1}, "soc_temp_c": 52.0, "hailo_temp_c": 48.0,
    "device_holders": [{"pid": 7, "command": "hailo-pipeline", "container": "hailo-inference"}],
    "free_mb": {"/opt/hailo-models": 20000, "/var/lib/docker": 20000}, "mem_available_mb": 3000,
}  # fmt: skip


def on_path(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(f"#!/bin/sh\n{text}\n")
    (folder / name).chmod(0o755)


def probe_args(tmp_path: Path) -> dict[str, Any]:
    return {
        "proc_dir": str(tmp_path / "proc"),
        "soc_thermal_file": str(tmp_path / "thermal"),
        "device": str(tmp_path / "hailo0"),
        "disks": [str(tmp_path / "models/not/yet"), str(tmp_path)],
    }


def probe(
    tmp_path: Path, throttled: str = "0x0", link: str = "Speed 8GT/s (ok), Width x1 (ok)", check_mode: bool = False
) -> dict[str, Any]:
    """The module's result, with doubles on PATH and a stand-in /proc: a sidecar process and a stranger's hailortcli
    holding the device."""
    device, proc = tmp_path / "hailo0", tmp_path / "proc"
    device.touch()
    for pid, command, cgroup in (
        (41, "hailo-pipeline", f"0::/system.slice/docker-{SIDECAR_ID}.scope"),
        (97, "hailortcli", "0::/user.slice"),
    ):
        (proc / str(pid) / "fd").mkdir(parents=True)
        (proc / str(pid) / "fd" / "5").symlink_to(device)
        (proc / str(pid) / "comm").write_text(command + "\n")
        (proc / str(pid) / "cgroup").write_text(cgroup + "\n")
    (proc / "98" / "fd").mkdir(parents=True)  # a process without the device
    (proc / "meminfo").write_text("MemTotal:        8000000 kB\nMemAvailable:    3145728 kB\n")
    (tmp_path / "thermal").write_text("61234\n")
    bin_dir = tmp_path / "bin"
    on_path(bin_dir, "vcgencmd", f'[ "$1" = get_throttled ] && echo throttled={throttled}')
    on_path(
        bin_dir,
        "lspci",
        f'echo "0001:01:00.0 Co-processor: Hailo Technologies Ltd. Hailo-8 AI Processor (rev 01)"; echo "		LnkSta:	{link}"',
    )
    on_path(bin_dir, "docker", f'echo "{SIDECAR_ID} hailo-inference"')
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT / "tests/support/doubles"),
        "HAILORT_DOUBLE_TEMPERATURE": "71.25",
    }
    return run_module("edge_preflight", "edge_preflight_hardware", probe_args(tmp_path), check_mode=check_mode, env=env)


@pytest.mark.parametrize("check_mode", [False, True])
def test_the_probe_reads_throttling_the_link_temperatures_holders_disk_and_memory(tmp_path: Path, check_mode: bool) -> None:
    result = probe(tmp_path, throttled="0x50005", link="Speed 5GT/s (downgraded), Width x1 (ok)", check_mode=check_mode)
    assert not result.get("failed"), result
    assert result["changed"] is False
    found = result["readings"]
    free = found.pop("free_mb")
    assert found == {
        "throttled": 0x50005,
        "pcie": {"speed_gts": 5.0, "width": 1},
        "soc_temp_c": 61.234,
        "hailo_temp_c": 71.2,
        "device_holders": [
            {"pid": 41, "command": "hailo-pipeline", "container": "hailo-inference"},
            {"pid": 97, "command": "hailortcli", "container": None},
        ],
        "mem_available_mb": 3072,
    }
    assert list(free) == [str(tmp_path / "models/not/yet"), str(tmp_path)]
    assert len(set(free.values())) == 1  # a missing folder: its nearest parent's
    assert next(iter(free.values())) > 0


def test_the_probe_says_null_for_what_this_host_cannot_read(tmp_path: Path) -> None:
    found = probe(tmp_path, link="")["readings"]
    for tool in ("vcgencmd", "lspci"):
        (tmp_path / "bin" / tool).unlink()
    (tmp_path / "hailo0").unlink()
    for pid in (41, 97):  # their processes ended
        (tmp_path / "proc" / str(pid) / "fd" / "5").unlink()
    (tmp_path / "proc" / "meminfo").unlink()
    (tmp_path / "thermal").unlink()
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    again = run_module("edge_preflight", "edge_preflight_hardware", probe_args(tmp_path), env=env)["readings"]
    assert found["pcie"] is None  # lspci lists no link for the device
    assert (again["throttled"], again["pcie"], again["hailo_temp_c"], again["device_holders"]) == (None, None, None, [])
    assert (again["soc_temp_c"], again["mem_available_mb"]) == (None, None)


def test_the_probe_refuses_arguments_it_does_not_know(tmp_path: Path) -> None:
    result = run_module("edge_preflight", "edge_preflight_hardware", {**probe_args(tmp_path), "proc": "/proc"})
    assert result["failed"] is True
    assert "proc" in result["msg"]


def test_good_readings_pass_without_a_word() -> None:
    assert verdict(GOOD, LIMITS) == {"refuse": [], "warn": []}


@pytest.mark.parametrize(
    ("change", "limits", "refused", "warned"),
    [
        ({"throttled": 0x5}, {}, "vcgencmd get_throttled=0x5: under-voltage now, throttled now (check the power supply", None),
        ({"throttled": 0x50000}, {}, None, "vcgencmd get_throttled=0x50000: under-voltage since boot, throttling since boot"),
        ({"throttled": 0x8}, {}, None, "soft temperature limit active"),
        (
            {"pcie": {"speed_gts": 5.0, "width": 1}},
            {},
            None,
            "the Hailo device's PCIe link 5 GT/s (8 is Gen3: dtparam=pciex1_gen=3) (warns below 8)",
        ),
        ({"pcie": {"speed_gts": 2.5, "width": 1}}, {"pcie_refuse_below_gts": 5.0}, "PCIe link 2.5 GT/s", None),
        ({"soc_temp_c": 80.0}, {}, None, "SoC temperature 80 °C (warns at 75)"),
        ({"soc_temp_c": 86.5}, {}, "SoC temperature 86.5 °C (refused at 85: cool the Pi before deploying)", None),
        ({"hailo_temp_c": 90.0}, {}, None, "Hailo temperature 90 °C (warns at 85)"),
        ({"hailo_temp_c": 101.0}, {}, "Hailo temperature 101 °C (refused at 100", None),
        (
            {"device_holders": [{"pid": 97, "command": "hailortcli", "container": None}]},
            {},
            "/dev/hailo0 is held by another process (pid 97 hailortcli)",
            None,
        ),
        ({"device_holders": [{"pid": 5, "command": "python3", "container": "frigate"}]}, {}, "(pid 5 python3 in container frigate)", None),
        ({"device_holders": [{"pid": 3, "command": "hailort_service", "container": None}]}, {}, None, None),
        ({"free_mb": {"/var/lib/docker": 2000}}, {}, None, "free space on /var/lib/docker 2000 MB (warns below 4096)"),
        ({"free_mb": {"/opt/hailo-models": 500}}, {}, "free space on /opt/hailo-models 500 MB (refused below 1024)", None),
        (
            {"free_mb": {"/opt/hailo-models": 20000}},
            {"free_mb_refuse": 100_000_000},
            "free space on /opt/hailo-models 20000 MB (refused below 100000000)",
            None,
        ),
        ({"mem_available_mb": 400}, {}, None, "available memory 400 MB (warns below 512)"),
        ({"mem_available_mb": 100}, {}, "available memory 100 MB (refused below 256)", None),
        ({"throttled": None}, {}, None, "throttled could not be read on this host"),
        ({"pcie": None}, {"require": ["pcie"]}, "pcie could not be read on this host", None),
    ],
)
def test_each_bad_reading_refuses_or_warns(change: dict[str, Any], limits: dict[str, Any], refused: str | None, warned: str | None) -> None:
    found = verdict({**GOOD, **change}, {**LIMITS, **limits})
    assert [r for r in found["refuse"] if refused and refused in r] == ([found["refuse"][0]] if refused else [])
    assert len(found["refuse"]) == (1 if refused else 0), found
    assert len(found["warn"]) == (1 if warned else 0), found
    if warned:
        assert warned in found["warn"][0]
