"""Fails unless every package in a wheelhouse is at the version scripts/venv.lock.txt pins for it.

    python scripts/check_wheelhouse.py LOCK WHEELHOUSE

pip can satisfy a download for another platform with an older release when the locked one has no wheel
for that platform; a sidecar image built from such a wheelhouse would not run what the bundle was
verified with. Prints one line per mismatch.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version


def locked_versions(lock: Path) -> dict[str, str]:
    pins = (line.split("==", 1) for line in lock.read_text().splitlines() if "==" in line and not line.startswith("#"))
    return {canonicalize_name(name): re.split(r"[ ;]", version, maxsplit=1)[0] for name, version in pins}


def _name_version(file: Path) -> tuple[str, Version]:
    if file.suffix == ".whl":
        name, version, _, _ = parse_wheel_filename(file.name)
        return name, version
    return parse_sdist_filename(file.name)


def mismatches(lock: Path, wheelhouse: Path) -> list[str]:
    pinned = locked_versions(lock)
    files = sorted(p for p in wheelhouse.iterdir() if p.name.endswith((".whl", ".tar.gz", ".zip")))
    problems = [] if files else [f"{wheelhouse} holds no packages"]
    for file in files:
        name, version = _name_version(file)
        want = pinned.get(name)
        if want is None:
            problems.append(f"{file.name}: {name} is not in {lock.name}")
        elif version != Version(want) and version.public != want:  # torch's CPU build is 2.13.0+cpu
            problems.append(f"{file.name}: {name} {version}, but {lock.name} pins {want}")
    return problems


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/check_wheelhouse.py LOCK WHEELHOUSE")
    found = mismatches(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(found), file=sys.stderr)
    sys.exit(1 if found else 0)
