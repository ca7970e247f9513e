"""Whether a release bundle may be served: the one trust check, on GPUSrv (`hailo-pipeline verify`), in the
sidecar, and on each Pi (role hailo_sidecar's module hailo_sidecar_releases runs this very file, through the
symlink roles/hailo_sidecar/module_utils/hailo_bundle_trust.py).

When an allowed-signers file is given, SHA256SUMS.sig must be a good signature over SHA256SUMS by a key it lists
(OpenSSH's `ssh-keygen -Y verify`, namespace hailo-fleet-release); then every file SHA256SUMS lists must be there
with its sha256, and nothing else but the signature. SHA256SUMS names every other file, so a good signature over
it vouches for the whole bundle once the sums check.

Standard library only: a Pi runs it under whatever Python Ansible finds there, without this package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"  # over SHA256SUMS itself, so not listed in it
NAMESPACE = "hailo-fleet-release"  # a signature made for anything else (git, files) does not verify as a release
_LINE = re.compile(r"(?P<digest>[0-9a-fA-F]{64})  (?P<name>[^/]+)")  # as write_bundle writes them; no folders
_KEY = re.compile(r" with (?P<key>\S+ key \S+)")


class UntrustedBundle(Exception):  # noqa: N818 (the name the issue gives it: what the bundle is, not an error of ours)
    """The bundle must not be served; str() is the reason, without the bundle's path."""


def check_bundle(release_dir: Path, allowed_signers: Path | None) -> None:
    """Raises UntrustedBundle saying why release_dir is not a whole bundle (signed by an allowed key when
    allowed_signers is given)."""
    if allowed_signers is not None:
        _check_signature(release_dir, allowed_signers)
    _check_sums(release_dir)


def _ssh_keygen(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    tool = shutil.which("ssh-keygen")
    if tool is None:
        raise UntrustedBundle("ssh-keygen not found: release signatures need OpenSSH's client (Debian: apt install openssh-client)")
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "DISPLAY", "SSH_ASKPASS")}
    return subprocess.run([tool, *args], input=stdin, capture_output=True, check=False, env=env, start_new_session=True)


def _check_signature(release_dir: Path, allowed_signers: Path) -> None:
    if not allowed_signers.is_file():
        raise UntrustedBundle(f"allowed-signers file {allowed_signers} does not exist")
    sig = release_dir / SIGNATURE
    if not sig.is_file():
        raise UntrustedBundle(
            f"not signed (no {SIGNATURE}) and signatures are required on this host: build it with "
            "`hailo-pipeline build --sign-key KEY` (build.yml: model_build_sign_key) or sign it with `hailo-pipeline sign`"
        )
    sums_path = release_dir / SUMS
    sums = sums_path.read_bytes() if sums_path.is_file() else b""
    found = _ssh_keygen("-Y", "find-principals", "-s", str(sig), "-f", str(allowed_signers))
    principal = next(iter(found.stdout.decode(errors="replace").splitlines()), "").strip()
    if found.returncode != 0 or not principal:
        checked = _ssh_keygen("-Y", "check-novalidate", "-n", NAMESPACE, "-s", str(sig), stdin=sums)
        match = _KEY.search(checked.stdout.decode(errors="replace")) if checked.returncode == 0 else None
        key = match["key"] if match else f"a key whose signature does not match {SUMS}"
        raise UntrustedBundle(f"signed by {key}, which {allowed_signers} does not list: an unknown signer")
    verified = _ssh_keygen("-Y", "verify", "-f", str(allowed_signers), "-I", principal, "-n", NAMESPACE, "-s", str(sig), stdin=sums)
    if verified.returncode != 0:
        namespace = _namespace(sig.read_bytes())
        if namespace is not None and namespace != NAMESPACE:
            raise UntrustedBundle(
                f"the signature by {principal} was made for namespace {namespace!r}, not {NAMESPACE}: not a release signature"
            )
        raise UntrustedBundle(f"the signature by {principal} does not verify: {SUMS} changed after signing")


def _namespace(armored: bytes) -> str | None:
    """The namespace an SSHSIG signature was made for (OpenSSH PROTOCOL.sshsig: "SSHSIG", version, then the public
    key and the namespace as length-prefixed strings); None when it is no such signature."""
    lines = armored.decode(errors="replace").strip().splitlines()
    try:
        blob = base64.b64decode("".join(lines[1:-1]), validate=True)
        if not blob.startswith(b"SSHSIG"):
            return None
        offset = 6 + 4  # magic, version
        (key_length,) = struct.unpack_from(">I", blob, offset)
        offset += 4 + key_length
        (namespace_length,) = struct.unpack_from(">I", blob, offset)
        return blob[offset + 4 : offset + 4 + namespace_length].decode()
    except (binascii.Error, struct.error, UnicodeDecodeError, IndexError):
        return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sums(release_dir: Path) -> None:
    sums_path = release_dir / SUMS
    if not sums_path.is_file():
        raise UntrustedBundle(f"no {SUMS}: not a release bundle (or an unfinished one)")
    listed: dict[str, str] = {}
    for number, line in enumerate(sums_path.read_bytes().decode(errors="replace").splitlines(), 1):
        match = _LINE.fullmatch(line)
        if match is None:
            raise UntrustedBundle(f"{SUMS}:{number}: malformed line {line!r}")
        listed[match["name"]] = match["digest"].lower()
    if not listed:
        raise UntrustedBundle(f"{SUMS} lists no files")
    present = {p.name for p in release_dir.iterdir() if p.name not in (SUMS, SIGNATURE)}
    if present - set(listed):
        raise UntrustedBundle(f"files not listed in {SUMS}: {', '.join(sorted(present - set(listed)))}")
    for name, digest in listed.items():
        path = release_dir / name
        if not path.is_file():
            raise UntrustedBundle(f"{name} is listed in {SUMS} but missing")
        if sha256_file(path) != digest:
            raise UntrustedBundle(f"{name} does not match its sha256 in {SUMS}: the bundle is corrupted")
