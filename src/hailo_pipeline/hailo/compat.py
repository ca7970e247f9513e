"""Version compatibility facts of the Hailo-8 toolchain (reference: hailo-toolchain.md section 8).

A HEF compiled by DFC 3.x needs at least the HailoRT 4.y released with it; HailoRT's library must equal
the host's hailo_pci driver exactly.
"""

from __future__ import annotations

import re

# DFC minor -> the HailoRT release paired with it (Model Zoo changelog). DFC 5.x / HailoRT 5.x are Hailo-10/15 only.
DFC_TO_HAILORT = {
    "3.25": "4.15.0",
    "3.26": "4.16.0",
    "3.27": "4.17.0",
    "3.28": "4.18.0",
    "3.29": "4.19.0",
    "3.30": "4.20.0",
    "3.31": "4.21.0",
    "3.32": "4.22.0",
    "3.33": "4.23.0",
}
# HEF header version -> the first HailoRT that reads it (older ones fail "HEF version does not match").
HEF_HEADER_MIN_HAILORT = {0: "4.0.0", 1: "4.0.0", 2: "4.20.0", 3: "4.21.0"}


def _minor(version: str) -> str | None:
    match = re.match(r"^(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def requires_hailort(sdk_version: str, header_version: int) -> str:
    """The oldest HailoRT that runs a HEF made by this DFC with this header version."""
    minor = _minor(sdk_version)
    if minor not in DFC_TO_HAILORT:
        known = ", ".join(DFC_TO_HAILORT)
        raise ValueError(f"DFC {sdk_version} is not in the compatibility table (known: {known}); Hailo-8 needs DFC 3.x")
    return max(DFC_TO_HAILORT[minor], HEF_HEADER_MIN_HAILORT.get(header_version, "0"), key=version_key)


# HEF architectures each device runs (HailoRT is_hef_compatible): a Hailo-8 also runs 8L HEFs, slower.
DEVICE_RUNS = {"HAILO8": ("HAILO8", "HAILO8P", "HAILO8R", "HAILO8L"), "HAILO8L": ("HAILO8L",)}


def fit_problems(hef: dict[str, str] | None, device_arch: str | None, library: str | None, driver: str | None) -> list[str]:
    """Why a bundle's HEF cannot run on a host (empty when it can). None means the host did not report that
    fact (no accelerator): checks that need it are skipped, and the sidecar falls back to ONNX Runtime."""
    problems = []
    if driver and library and driver != library:
        problems.append(f"hailo_pci driver {driver} differs from HailoRT library {library}: HailoRT refuses to run (status 76)")
    if hef is None:
        return problems
    if device_arch and hef["hw_arch"] not in DEVICE_RUNS.get(device_arch, ()):
        problems.append(f"the HEF is for {hef['hw_arch']}; a {device_arch} device cannot run it")
    if library and version_key(library) < version_key(hef["requires_hailort"]):
        problems.append(f"the HEF (DFC {hef['sdk_version']}) needs HailoRT >= {hef['requires_hailort']}; the host has {library}")
    return problems
