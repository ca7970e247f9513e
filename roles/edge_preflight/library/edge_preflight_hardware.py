#!/usr/bin/python
"""What a Pi's hardware reads now, for role edge_preflight's verdict (filter_plugins/edge_preflight.py). Read-only."""

from __future__ import annotations

DOCUMENTATION = r"""
module: edge_preflight_hardware
short_description: Read a Raspberry Pi's hardware before a deploy changes it
description:
  - Reads throttling (vcgencmd get_throttled), the Hailo device's PCIe link (lspci -vv), the SoC and Hailo chip
    temperatures, which processes hold the device (and in which container), free space under each folder in
    I(disks), and MemAvailable. A reading this host cannot take is null. Changes nothing.
options:
  proc_dir:
    description: The kernel's process table (tests point it elsewhere).
    type: path
    default: /proc
  soc_thermal_file:
    description: The SoC's temperature, in millidegrees.
    type: path
    default: /sys/class/thermal/thermal_zone0/temp
  device:
    description: The accelerator's device node.
    type: path
    default: /dev/hailo0
  disks:
    description: Folders whose file systems' free space is read (a missing folder, its nearest existing parent's).
    type: list
    elements: path
    default: []
notes:
  - Supports check mode; it only reads.
  - The Hailo temperature is read through this Python's HailoRT binding (python3-hailort), when it reaches the device.
"""

EXAMPLES = r"""
- name: Read the hardware
  edge_preflight_hardware:
    device: /dev/hailo0
    disks: [/opt/hailo-models, /var/lib/docker]
  register: hardware
"""

RETURN = r"""
readings:
  description: What the hardware reads; null for what this host cannot read.
  returned: success
  type: dict
  contains:
    throttled:
      description: vcgencmd get_throttled's bits (0-3 now, 16-19 since boot).
      type: int
    pcie:
      description: The Hailo device's PCIe link, speed_gts (8 is Gen3) and width (lanes).
      type: dict
    soc_temp_c:
      description: The SoC's temperature, °C.
      type: float
    hailo_temp_c:
      description: The Hailo chip's own sensor, °C.
      type: float
    device_holders:
      description: The processes with the device open, each pid, command and container (null, none).
      type: list
      elements: dict
    free_mb:
      description: Free space, MB, by folder in disks.
      type: dict
    mem_available_mb:
      description: MemAvailable, MB.
      type: int
"""

import os
import re
import shutil
import subprocess
import sys
from typing import Any

from ansible.module_utils.basic import AnsibleModule

HAILO_PCI_ID = "1e60:"  # Hailo-8 and Hailo-8L (lspci -d VENDOR:)
COMMAND_TIMEOUT_S = 10


def run(*argv: str) -> str | None:
    """A command's stdout, or None when it is missing, fails or hangs."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def throttled() -> int | None:
    """vcgencmd get_throttled: throttled=0x50005 (bits 0-3 now, 16-19 since boot)."""
    found = re.search(r"throttled=(0x[0-9a-fA-F]+)", run("vcgencmd", "get_throttled") or "")
    return int(found.group(1), 16) if found else None


def pcie() -> dict[str, Any] | None:
    """The Hailo device's PCIe link as lspci -vv reads it (LnkSta: Speed 8GT/s, Width x1; 8GT/s is Gen3)."""
    found = re.search(r"LnkSta:\s*Speed ([0-9.]+)GT/s[^,]*, Width x([0-9]+)", run("lspci", "-d", HAILO_PCI_ID, "-vv") or "")
    return {"speed_gts": float(found.group(1)), "width": int(found.group(2))} if found else None


def soc_temp_c(thermal_file: str) -> float | None:
    try:
        with open(thermal_file) as f:
            return int(f.read().strip()) / 1000
    except (OSError, ValueError):
        return None


def hailo_temp_c(device: str) -> float | None:
    """The chip's own sensor (HailoRT's Device.control.get_chip_temperature), when this Python's binding
    (python3-hailort) can reach it; in a process of its own, so that a hung device call times out."""
    if not os.path.exists(device):
        return None
    said = run(sys.executable, "-c", "from hailo_platform import Device; print(Device().control.get_chip_temperature().ts0_temperature)")
    try:
        return round(float(said.strip().splitlines()[-1]), 1) if said else None
    except ValueError:
        return None


def containers() -> dict[str, str]:
    """Container id -> name, of the running containers."""
    listed = run("docker", "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}") or ""
    return dict(line.split(None, 1) for line in listed.splitlines() if " " in line)


def device_holders(proc: str, device: str) -> list[dict[str, Any]]:
    """The processes with the device open: pid, command, and the container they run in (None: none)."""
    holders: list[dict[str, Any]] = []
    names: dict[str, str] | None = None
    for pid in sorted((p for p in os.listdir(proc) if p.isdigit()), key=int):
        try:
            fds = os.listdir(f"{proc}/{pid}/fd")
            holding = any(os.readlink(f"{proc}/{pid}/fd/{fd}") == device for fd in fds)
        except OSError:
            continue
        if not holding:
            continue
        names = containers() if names is None else names
        try:
            with open(f"{proc}/{pid}/comm") as f:
                command = f.read().strip()
            with open(f"{proc}/{pid}/cgroup") as f:
                cgroup = f.read()
        except OSError:
            continue
        found = re.search(r"([0-9a-f]{64})", cgroup)
        holders.append({"pid": int(pid), "command": command, "container": names.get(found.group(1)) if found else None})
    return holders


def free_mb(path: str) -> int:
    while not os.path.exists(path):
        path = os.path.dirname(path)
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize // (1 << 20)


def mem_available_mb(proc: str) -> int | None:
    try:
        with open(f"{proc}/meminfo") as f:
            found = re.search(r"^MemAvailable:\s+([0-9]+) kB", f.read(), re.MULTILINE)
    except OSError:
        return None
    return int(found.group(1)) // 1024 if found else None


def read_hardware(proc_dir: str, soc_thermal_file: str, device: str, disks: list[str]) -> dict[str, Any]:
    return {
        "throttled": throttled(),
        "pcie": pcie(),
        "soc_temp_c": soc_temp_c(soc_thermal_file),
        "hailo_temp_c": hailo_temp_c(device),
        "device_holders": device_holders(proc_dir, device),
        "free_mb": {path: free_mb(path) for path in disks},
        "mem_available_mb": mem_available_mb(proc_dir),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "proc_dir": {"type": "path", "default": "/proc"},
            "soc_thermal_file": {"type": "path", "default": "/sys/class/thermal/thermal_zone0/temp"},
            "device": {"type": "path", "default": "/dev/hailo0"},
            "disks": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    readings = read_hardware(params["proc_dir"], params["soc_thermal_file"], params["device"], params["disks"])
    module.exit_json(changed=False, readings=readings)


if __name__ == "__main__":
    main()
