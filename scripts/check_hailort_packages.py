"""Checks the HailoRT files scripts/build-sidecar-image puts into the sidecar image, and prints their version.

    python scripts/check_hailort_packages.py PLATFORM PYTHON HAILORT_DEB BINDING

HAILORT_DEB is Hailo's `hailort` package (libhailort.so.<v> and hailortcli); BINDING the Python binding at the
same version: a `python3-hailort` .deb (its dist-packages copied into the image's venv) or a `hailort-<v>-cpXY-…`
wheel. Both are for PLATFORM (linux/amd64 | linux/arm64) and the image's PYTHON (e.g. 3.13). Anything else is
refused with the reason, before the image is built: exactly one HailoRT version goes into an image, 4.18 or newer
(the sidecar runs HailoRT's InferModel API, whose Python binding first appears in hailort v4.18.0's pyhailort.py).

Prints the version and the NumPy the binding declares it needs: `<2` when its requirements exclude NumPy 2 (Hailo's
wheels declare `Requires-Dist: numpy<2`: their pybind11 predates NumPy 2's ABI), `any` otherwise; e.g. `4.23.0 <2`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

DEB_ARCH = {"linux/amd64": "amd64", "linux/arm64": "arm64"}
WHEEL_MACHINE = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
OLDEST = (4, 18)  # InferModel in the Python binding (pyhailort.py's create_infer_model): hailort v4.18.0


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


def check_deb(deb: Path, package: str, platform: str) -> tuple[str, list[str], dict[str, str]]:
    """The package's upstream version, its paths and control fields, once its name and architecture are right."""
    fields, paths = deb_fields(deb)
    if fields.get("Package") != package:
        raise RefusedError(f"{deb} is package {fields.get('Package')}, not {package}")
    if fields.get("Architecture") not in ("all", DEB_ARCH[platform]):
        raise RefusedError(f"{deb} is for {fields.get('Architecture')}; the image is {platform} ({DEB_ARCH[platform]})")
    return upstream(fields.get("Version", "")), paths, fields


def wheel_numpy(wheel: Path) -> str:
    """`<2` when the wheel's METADATA requires a NumPy below 2, else `any`."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            name = next((n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)), None)
            if name is None:
                raise RefusedError(f"{wheel.name} has no *.dist-info/METADATA: not a wheel")
            metadata = Parser().parsestr(archive.read(name).decode())
    except zipfile.BadZipFile:
        raise RefusedError(f"{wheel.name} is not a wheel (not a zip archive)") from None
    for line in metadata.get_all("Requires-Dist") or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            raise RefusedError(f"{wheel.name} declares an unreadable requirement: {line}") from None
        if requirement.name.lower() == "numpy" and not requirement.marker and not requirement.specifier.contains("2.0.0"):
            return "<2"
    return "any"


def deb_numpy(fields: dict[str, str]) -> str:
    """`<2` when the package depends on python3-numpy below 2 (e.g. `python3-numpy (<< 1:2)`), else `any`."""
    below_two = re.search(r"python3-numpy\s*\(\s*<<?\s*(\d+:)?([01]\.|2\b)", fields.get("Depends", ""))
    return "<2" if below_two else "any"


def binding_version(binding: Path, platform: str, python: str) -> tuple[str, str]:
    """The binding's HailoRT version and the NumPy it declares it needs."""
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
        return version, wheel_numpy(binding)
    version, paths, fields = check_deb(binding, "python3-hailort", platform)
    if "/usr/lib/python3/dist-packages/hailo_platform/__init__.py" not in paths:
        raise RefusedError(f"{binding} holds no /usr/lib/python3/dist-packages/hailo_platform")
    built_for = {m.group(1) for p in paths if (m := re.search(r"_pyhailort\.cpython-(\d+)", p))}
    if built_for - {tag.removeprefix("cp")}:
        raise RefusedError(f"{binding} is built for Python {', '.join(sorted(built_for))}; the image's Python is {python}")
    return version, deb_numpy(fields)


def check(platform: str, python: str, hailort_deb: Path, binding: Path) -> tuple[str, str]:
    if platform not in DEB_ARCH:
        raise RefusedError(f"unknown platform {platform}: linux/amd64 or linux/arm64")
    version, paths, _ = check_deb(hailort_deb, "hailort", platform)
    missing = [p for p in (f"/usr/lib/libhailort.so.{version}", "/usr/bin/hailortcli") if p not in paths]
    if missing:
        raise RefusedError(f"{hailort_deb} (hailort {version}) lacks {', '.join(missing)}")
    release = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if release < OLDEST:
        raise RefusedError(
            f"HailoRT {version} is older than 4.18: its Python binding has no InferModel API (create_infer_model first "
            "appears in 4.18.0's pyhailort.py), which the sidecar runs; use HailoRT 4.18 or newer"
        )
    bound, numpy = binding_version(binding, platform, python)
    if bound != version:
        raise RefusedError(
            f"the binding {binding.name} is HailoRT {bound}, the hailort .deb {version}: an image carries exactly one version"
        )
    return version, numpy


def main(argv: list[str]) -> int:
    if len(argv) != 4 or not all(argv):
        usage = "usage: check_hailort_packages.py PLATFORM PYTHON HAILORT_DEB BINDING (both --hailort and --hailort-binding)"
        print(usage, file=sys.stderr)
        return 2
    try:
        print(*check(argv[0], argv[1], Path(argv[2]), Path(argv[3])))
    except RefusedError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
