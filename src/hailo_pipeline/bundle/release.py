"""Content-addressed release bundles: the build id, atomic writing, and SHA256SUMS.

build_id = sha256 over every input that changes the result, each named and hashed on its own:
the source bytes, the spec's meaning, the calibration data, the toolchain versions and this package's
own code. A bundle lives in <out>/<name>-<version>-<build_id[:12]>/ and is written to a temporary
folder beside it, then renamed: a failed build leaves nothing behind. Whether a bundle is whole (and signed) is
trust.check_bundle's to say, here as a PipelineError (check_sums).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from hailo_pipeline.bundle.trust import SUMS, UntrustedBundle, check_bundle
from hailo_pipeline.errors import PipelineError


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def check_sums(release_dir: Path, allowed_signers: Path | None = None) -> dict[str, str]:
    """The one trust check (trust.check_bundle): with allowed_signers, SHA256SUMS.sig must be a good signature by a
    key it lists; every file SHA256SUMS lists must match and nothing else be in the bundle (but its signature).
    Returns name -> sha256; raises PipelineError naming the bundle and the reason."""
    try:
        check_bundle(release_dir, allowed_signers)
    except UntrustedBundle as exc:
        raise PipelineError(f"{release_dir}: {exc}") from None
    lines = (release_dir / SUMS).read_text().splitlines()
    return {name: digest.lower() for digest, name in (line.split("  ", 1) for line in lines)}
