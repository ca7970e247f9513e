"""Version compatibility facts of the Hailo-8 toolchain (reference: hailo-toolchain.md section 8).

A HEF compiled by DFC 3.x needs at least the HailoRT 4.y released with it. The HailoRT that opens it is the
one inside the sidecar image, and HailoRT refuses a hailo_pci driver that is not exactly its own version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# DFC minor -> the HailoRT release paired with it (Model Zoo changelog). DFC 5.x / HailoRT 5.x are Hailo-10/15 only.
DFC_TO_HAILORT = {
    "3.25": "4.15.0",
    "3.26": "4.16.0",
    "3.27": "4.18.0",
    "3.28": "4.18.0",
    "3.29": "4.19.0",
    "3.30": "4.20.0",
    "3.31": "4.21.0",
    "3.32": "4.22.0",
    "3.33": "4.23.0",
}
# HEF header version -> the first HailoRT that reads it (older ones fail "HEF version does not match").
HEF_HEADER_MIN_HAILORT = {0: "4.0.0", 1: "4.17.0", 2: "4.20.0", 3: "4.21.0"}


def _minor(version: str) -> str | None:
    match = re.match(r"^(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def version_key(version: str) -> tuple[int, ...]:
    """major.minor.revision as numbers, missing parts 0: "4.23" and "4.23.0-1" both give (4, 23, 0)."""
    parts = [int(p) for p in re.findall(r"\d+", version)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def requires_hailort(sdk_version: str, header_version: int) -> str:
    """The oldest HailoRT that runs a HEF made by this DFC with this header version."""
    minor = _minor(sdk_version)
    if minor not in DFC_TO_HAILORT:
        known = ", ".join(DFC_TO_HAILORT)
        raise ValueError(f"DFC {sdk_version} is not in the compatibility table (known: {known}); Hailo-8 needs DFC 3.x")
    return max(DFC_TO_HAILORT[minor], HEF_HEADER_MIN_HAILORT.get(header_version, "0"), key=version_key)


# The oldest HailoRT the fleet runs: Python's InferModel (VDevice.create_infer_model), which the sidecar uses, first
# appears in HailoRT v4.18.0's hailort/libhailort/bindings/python/platform/hailo_platform/pyhailort/pyhailort.py;
# v4.17.0's has neither (hailo-toolchain.md section 7). Role hailort installs no older.
OLDEST_HAILORT = "4.18.0"
WHY_OLDEST = "HailoRT's Python binding has InferModel (VDevice.create_infer_model), which the sidecar runs, only from 4.18.0"


# HEF architectures each device accepts (HailoRT is_hef_compatible): a Hailo-8 also runs 8L HEFs, slower.
# HAILO8 (enum 0) is in neither: no device accepts it.
DEVICE_RUNS = {"HAILO8": ("HAILO8P", "HAILO8R", "HAILO8L"), "HAILO8L": ("HAILO8L",)}
NO_DEVICE_ARCH = "HAILO8"


def fit_problems(
    hef: Mapping[str, Any] | None,
    device_arch: str | None,
    driver: str | None,
    image_hailort: str | None,
    library: str | None = None,
    firmware: str | None = None,
) -> list[str]:
    """Why a bundle's HEF cannot run on a host (empty when it can).

    driver: the loaded hailo_pci version (/sys/module/hailo_pci/version); image_hailort: the sidecar image's
    HailoRT (label org.hailo-fleet.hailort; None: the image has none and serves with ONNX Runtime); library:
    the host's own hailortcli; firmware: the device's (fw-control identify's Firmware Version). A None fact skips
    the checks that need it (e.g. a host without accelerator).
    """
    problems = []
    if image_hailort and version_key(image_hailort) < version_key(OLDEST_HAILORT):
        problems.append(
            f"the sidecar image's HailoRT {image_hailort} is older than {OLDEST_HAILORT}: {WHY_OLDEST}; "
            f"use an image with HailoRT >= {OLDEST_HAILORT} (and the driver to match)"
        )
    if library and version_key(library) < version_key(OLDEST_HAILORT):
        problems.append(
            f"the host's HailoRT library (hailortcli) {library} is older than {OLDEST_HAILORT}, and the sidecar's HailoRT must "
            f"equal the host's driver: {WHY_OLDEST}; install HailoRT >= {OLDEST_HAILORT} on the host (role hailort)"
        )
    # HailoRT refuses a firmware of another major.minor than its own (the revision may differ): Device::update_fw_state
    # compares them, then Device::fw_interact answers HAILO_UNSUPPORTED_FW_VERSION (16) to every non-critical control
    # (hailort v4.23.0 hailort/libhailort/src/device_common/device.cpp).
    for side, hailort in (("the sidecar image's HailoRT", image_hailort), ("the host's HailoRT library (hailortcli)", library)):
        if firmware and hailort and _minor(firmware) != _minor(hailort):
            problems.append(
                f"the device's firmware {firmware} and {side} {hailort} differ in major.minor: HailoRT refuses the "
                f"device's controls (HAILO_UNSUPPORTED_FW_VERSION, 16); install the firmware of HailoRT {hailort} (hailofw "
                "on bookworm, hailort-pcie-driver on trixie) and reload hailo_pci or reboot, which loads it into the device"
            )
    if driver and image_hailort and version_key(image_hailort) != version_key(driver):
        problems.append(
            f"the sidecar image's HailoRT {image_hailort} differs from the loaded hailo_pci driver {driver}: HailoRT in the "
            f"sidecar refuses the device (HAILO_INVALID_DRIVER_VERSION, 76); use an image with HailoRT {driver} "
            f"or install and load driver {image_hailort}"
        )
    if driver and library and version_key(library) != version_key(driver):
        problems.append(
            f"the host's HailoRT library (hailortcli) {library} differs from the loaded hailo_pci driver {driver}: host tools "
            f"fail with HAILO_INVALID_DRIVER_VERSION (76); install HailoRT {driver} on the host or load driver {library} "
            "(reboot after a driver upgrade)"
        )
    if hef is None:
        return problems
    arch = hef["hw_arch"]
    if device_arch and arch == NO_DEVICE_ARCH:
        problems.append(
            f"a {device_arch} device refuses this HEF: HEF arch HAILO8 (enum 0, also what a header without hw_arch reads as) "
            "is accepted by no device; a hailo8 build carries HAILO8P — rebuild it"
        )
    elif device_arch and arch not in DEVICE_RUNS.get(device_arch, ()):
        accepted = "/".join(DEVICE_RUNS.get(device_arch, ())) or "none this tool knows"
        problems.append(
            f"the HEF is for {arch}; a {device_arch} device accepts only {accepted} HEFs: rebuild the bundle for a {device_arch}"
        )
    if image_hailort and version_key(image_hailort) < version_key(hef["requires_hailort"]):
        problems.append(
            f"the HEF (DFC {hef['sdk_version']}) needs HailoRT >= {hef['requires_hailort']}; the sidecar image has "
            f"HailoRT {image_hailort}: use an image with HailoRT >= {hef['requires_hailort']} (and the driver to match)"
        )
    return problems
