"""Content-addressed release bundles: the build id, atomic writing, and SHA256SUMS.

build_id = sha256 over every input that changes the result, each named and hashed on its own:
the source bytes, the spec's meaning, the calibration data, the toolchain versions and this package's
own code. A bundle lives in <out>/<name>-<version>-<build_id[:12]>/ and is written to a temporary
folder beside it, then renamed: a failed build leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from hailo_pipeline.errors import PipelineError

SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"  # optional, over SHA256SUMS itself (signature.py): not listed in it


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_id(parts: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(parts):
        digest.update(f"{name}={sha256_bytes(parts[name])}\n".encode())
    return digest.hexdigest()


def release_name(name: str, version: str, bid: str) -> str:
    return f"{name}-{version}-{bid[:12]}"


def write_bundle(out_dir: Path, release: str, files: Mapping[str, bytes]) -> Path:
    """Writes files + SHA256SUMS into out_dir/release atomically; an existing bundle is kept as it is."""
    final = out_dir / release
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{release}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        sums = "".join(f"{sha256_bytes(data)}  {name}\n" for name, data in sorted(files.items()))
        (tmp / SUMS).write_text(sums)
        if final.exists():
            shutil.rmtree(tmp)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def check_sums(release_dir: Path) -> dict[str, str]:
    """Verifies every file SHA256SUMS lists and that nothing else is in the bundle (but its signature); returns
    name -> sha256."""
    sums_path = release_dir / SUMS
    if not sums_path.is_file():
        raise PipelineError(f"{release_dir} has no {SUMS}: not a release bundle (or an unfinished one)")
    listed: dict[str, str] = {}
    for number, line in enumerate(sums_path.read_text().splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or "/" in name:
            raise PipelineError(f"{sums_path}:{number}: malformed line {line!r}")
        listed[name] = digest
    present = {p.name for p in release_dir.iterdir() if p.name not in (SUMS, SIGNATURE)}
    if present - set(listed):
        raise PipelineError(f"{release_dir}: files not listed in {SUMS}: {', '.join(sorted(present - set(listed)))}")
    for name, digest in listed.items():
        path = release_dir / name
        if not path.is_file():
            raise PipelineError(f"{release_dir}: {name} is listed in {SUMS} but missing")
        if sha256_file(path) != digest:
            raise PipelineError(f"{release_dir}: {name} does not match its sha256 in {SUMS}: the bundle is corrupted")
    return listed
