"""Checks the HailoRT files scripts/build-sidecar-image puts into the sidecar image, and prints their version.

    python scripts/check_hailort_packages.py PLATFORM PYTHON HAILORT_DEB BINDING

HAILORT_DEB is Hailo's `hailort` package (libhailort.so.<v> and hailortcli); BINDING the Python binding at the
same version: a `python3-hailort` .deb (its dist-packages copied into the image's venv) or a `hailort-<v>-cpXY-…`
wheel. Both are for PLATFORM (linux/amd64 | linux/arm64) and the image's PYTHON (e.g. 3.13). Anything else is
refused with the reason, before the image is built: exactly one HailoRT version goes into an image.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DEB_ARCH = {"linux/amd64": "amd64", "linux/arm64": "arm64"}
WHEEL_MACHINE = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}


class RefusedError(Exception):
    """The files cannot make one HailoRT in the image; the message says why."""


def upstream(version: str) -> str:
    """Debian version -> upstream version: 4.19.0-3 -> 4.19.0, 1:4.23.0 -> 4.23.0."""
    return re.sub(r"-[^-]*$", "", version.split(":", 1)[-1])


def deb_fields(deb: Path) -> tuple[dict[str, str], list[str]]:
    if not deb.is_file():
        raise RefusedError(f"{deb} not found")
    try:
        control = subprocess.run(["dpkg-deb", "--field", str(deb)], check=True, capture_output=True, text=True).stdout
        listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], check=True, capture_output=True, text=True).stdout
    except subprocess.CalledProcessError as exc:
        raise RefusedError(f"{deb} is not a Debian package: {exc.stderr.strip()}") from None
    fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line and not line.startswith(" "))
    paths = [line.split()[5].removeprefix(".") for line in listing.splitlines() if len(line.split()) >= 6]
    return fields, paths


def check_deb(deb: Path, package: str, platform: str) -> tuple[str, list[str]]:
    """The package's upstream version and its paths, once its name and architecture are right."""
    fields, paths = deb_fields(deb)
    if fields.get("Package") != package:
        raise RefusedError(f"{deb} is package {fields.get('Package')}, not {package}")
    if fields.get("Architecture") not in ("all", DEB_ARCH[platform]):
        raise RefusedError(f"{deb} is for {fields.get('Architecture')}; the image is {platform} ({DEB_ARCH[platform]})")
    return upstream(fields.get("Version", "")), paths


def binding_version(binding: Path, platform: str, python: str) -> str:
    tag = "cp" + python.replace(".", "")
    if binding.suffix == ".whl":
        parts = binding.name.removesuffix(".whl").split("-")
        if len(parts) != 5 or parts[0].lower() != "hailort":
            raise RefusedError(f"{binding.name} is not a hailort wheel (hailort-<version>-<python>-<abi>-<platform>.whl)")
        _, version, py, _, plat = parts
        if py not in (tag, "py3"):
            raise RefusedError(f"{binding.name} is built for {py}; the image's Python is {python} ({tag})")
        if plat != "any" and not plat.endswith(WHEEL_MACHINE[platform]):
            raise RefusedError(f"{binding.name} is for {plat}; the image is {platform} ({WHEEL_MACHINE[platform]})")
        return version
    version, paths = check_deb(binding, "python3-hailort", platform)
    if "/usr/lib/python3/dist-packages/hailo_platform/__init__.py" not in paths:
        raise RefusedError(f"{binding} holds no /usr/lib/python3/dist-packages/hailo_platform")
    built_for = {m.group(1) for p in paths if (m := re.search(r"_pyhailort\.cpython-(\d+)", p))}
    if built_for - {tag.removeprefix("cp")}:
        raise RefusedError(f"{binding} is built for Python {', '.join(sorted(built_for))}; the image's Python is {python}")
    return version


def check(platform: str, python: str, hailort_deb: Path, binding: Path) -> str:
    if platform not in DEB_ARCH:
        raise RefusedError(f"unknown platform {platform}: linux/amd64 or linux/arm64")
    version, paths = check_deb(hailort_deb, "hailort", platform)
    missing = [p for p in (f"/usr/lib/libhailort.so.{version}", "/usr/bin/hailortcli") if p not in paths]
    if missing:
        raise RefusedError(f"{hailort_deb} (hailort {version}) lacks {', '.join(missing)}")
    bound = binding_version(binding, platform, python)
    if bound != version:
        raise RefusedError(
            f"the binding {binding.name} is HailoRT {bound}, the hailort .deb {version}: an image carries exactly one version"
        )
    return version


def main(argv: list[str]) -> int:
    if len(argv) != 4 or not all(argv):
        usage = "usage: check_hailort_packages.py PLATFORM PYTHON HAILORT_DEB BINDING (both --hailort and --hailort-binding)"
        print(usage, file=sys.stderr)
        return 2
    try:
        print(check(argv[0], argv[1], Path(argv[2]), Path(argv[3])))
    except RefusedError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
