"""edge_preflight_verdict: what role edge_preflight makes of a Pi's hardware readings (library/edge_preflight_hardware.py)
against its thresholds (defaults/main.yml): {"refuse": [reason, ...], "warn": [reason, ...]}. A reading that could
not be taken is a warning, or a refusal when `require` names it."""

from __future__ import annotations

from typing import Any

# vcgencmd get_throttled's bits (Raspberry Pi's documentation)
NOW_REFUSE = {0: "under-voltage now", 1: "ARM frequency capped now", 2: "throttled now"}
NOW_WARN = {3: "soft temperature limit active"}
SINCE_BOOT = {16: "under-voltage", 17: "ARM frequency capping", 18: "throttling", 19: "soft temperature limit"}


def _throttled(value: int, refuse: list[str], warn: list[str]) -> None:
    now = [text for bit, text in NOW_REFUSE.items() if value >> bit & 1]
    if now:
        refuse.append(f"vcgencmd get_throttled={value:#x}: {', '.join(now)} (check the power supply: 5 V 5 A for a Pi 5)")
    marginal = [text for bit, text in NOW_WARN.items() if value >> bit & 1]
    marginal += [f"{text} since boot" for bit, text in SINCE_BOOT.items() if value >> bit & 1]
    if marginal:
        warn.append(f"vcgencmd get_throttled={value:#x}: {', '.join(marginal)}")


def _at_most(name: str, value: float, refuse_at: float, warn_at: float, unit: str, refuse: list[str], warn: list[str]) -> None:
    if value >= refuse_at:
        refuse.append(f"{name} {value:.10g} {unit} (refused at {refuse_at:.10g}: cool the Pi before deploying)")
    elif value >= warn_at:
        warn.append(f"{name} {value:.10g} {unit} (warns at {warn_at:.10g})")


def _at_least(name: str, value: float, refuse_below: float, warn_below: float, unit: str, refuse: list[str], warn: list[str]) -> None:
    if value < refuse_below:
        refuse.append(f"{name} {value:.10g} {unit} (refused below {refuse_below:.10g})")
    elif value < warn_below:
        warn.append(f"{name} {value:.10g} {unit} (warns below {warn_below:.10g})")


def edge_preflight_verdict(readings: dict[str, Any], limits: dict[str, Any]) -> dict[str, list[str]]:
    refuse: list[str] = []
    warn: list[str] = []
    missing = [name for name in ("throttled", "pcie", "soc_temp_c", "hailo_temp_c", "mem_available_mb") if readings.get(name) is None]
    if readings.get("throttled") is not None:
        _throttled(int(readings["throttled"]), refuse, warn)
    link = readings.get("pcie")
    if link is not None:
        _at_least("the Hailo device's PCIe link", float(link["speed_gts"]), limits["pcie_refuse_below_gts"], limits["pcie_warn_below_gts"],
                  "GT/s (8 is Gen3: dtparam=pciex1_gen=3)", refuse, warn)  # fmt: skip
    for name, key in (("SoC temperature", "soc_temp_c"), ("Hailo temperature", "hailo_temp_c")):
        if readings.get(key) is not None:
            _at_most(name, float(readings[key]), limits[f"{key}_refuse"], limits[f"{key}_warn"], "°C", refuse, warn)
    others = [h for h in readings.get("device_holders") or [] if h["container"] not in limits["own_containers"]
              and h["command"] not in limits["own_commands"]]  # fmt: skip
    if others:
        held = ", ".join(f"pid {h['pid']} {h['command']}" + (f" in container {h['container']}" if h["container"] else "") for h in others)
        refuse.append(f"{limits['device']} is held by another process ({held}): the sidecar could not open it")
    for path, mb in (readings.get("free_mb") or {}).items():
        _at_least(f"free space on {path}", mb, limits["free_mb_refuse"], limits["free_mb_warn"], "MB", refuse, warn)
    if readings.get("mem_available_mb") is not None:
        _at_least("available memory", readings["mem_available_mb"], limits["mem_mb_refuse"], limits["mem_mb_warn"], "MB", refuse, warn)
    for name in missing:
        (refuse if name in limits["require"] else warn).append(f"{name} could not be read on this host")
    return {"refuse": refuse, "warn": warn}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"edge_preflight_verdict": edge_preflight_verdict}
