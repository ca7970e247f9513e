"""Who built a release: its SHA256SUMS signed with an ed25519 key by OpenSSH's `ssh-keygen -Y sign`, into
SHA256SUMS.sig, and checked by `ssh-keygen -Y verify` against an allowed-signers file (ssh-keygen(1), ALLOWED
SIGNERS: `<principal> <key type> <key>` per line). The check itself is trust.check_bundle's (release.check_sums
with allowed_signers); this module signs, and says who signed. Every Pi has ssh-keygen: nothing new to install
there. ed25519 signatures are deterministic: signing a bundle again writes
the same bytes, which keeps `build` idempotent.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hailo_pipeline.bundle.trust import NAMESPACE, SIGNATURE, SUMS
from hailo_pipeline.errors import PipelineError

_GOOD = re.compile(r'Good "[^"]*" signature (?:for (?P<principal>\S+) )?with (?P<key>\S+ key \S+)')


@dataclass(frozen=True)
class Signed:
    key: str  # e.g. "ED25519 key SHA256:..."
    principal: str  # the allowed-signers name the key is listed under; "" when only signed, not checked
    written: bool = False  # sign(): the signature file was (re)written

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "principal": self.principal, "written": self.written}


def _ssh_keygen(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    tool = shutil.which("ssh-keygen")
    if tool is None:
        raise PipelineError("ssh-keygen not found: release signatures need OpenSSH's client (Debian: apt install openssh-client)")
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "DISPLAY", "SSH_ASKPASS")}  # the key file only
    # A session of its own: no terminal to ask a passphrase on, so a locked key fails instead of waiting.
    return subprocess.run([tool, *args], input=stdin, capture_output=True, check=False, env=env, start_new_session=True)


def _said(proc: subprocess.CompletedProcess[bytes]) -> str:
    """What ssh-keygen said, without its banners and its "Signing data on standard input"."""
    lines = (proc.stderr or proc.stdout).decode(errors="replace").splitlines()
    return "; ".join(line.strip() for line in lines if line.strip() and not line.startswith(("@", "Signing data")))


def _good(proc: subprocess.CompletedProcess[bytes]) -> re.Match[str]:
    match = _GOOD.search(proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace"))
    if match is None:
        raise PipelineError(f"ssh-keygen said something unexpected: {_said(proc)!r}")
    return match


class SigningKey:
    """An ed25519 private key, checked when read; held in a private temporary file only while it signs, so a key
    from a vault (on stdin) never lands on disk for longer, and a key file's own permissions do not matter."""

    def __init__(self, text: str, source: str) -> None:
        self.text, self.source = text if text.endswith("\n") else text + "\n", source
        with self._file() as path:
            listed = _ssh_keygen("-l", "-f", str(path))
            said = _said(listed).replace(str(path), source)
        if listed.returncode != 0:
            raise PipelineError(f"signing key {source} is not an OpenSSH private key: {said}")
        if not listed.stdout.decode().rstrip().endswith("(ED25519)"):
            kind = listed.stdout.decode().split()[-1]
            raise PipelineError(f"signing key {source} is not ed25519 but {kind}: make one with ssh-keygen -t ed25519")

    @classmethod
    def read(cls, arg: str) -> SigningKey:
        """From a file, or from stdin for "-"."""
        if arg == "-":
            return cls(sys.stdin.read(), "on stdin")
        path = Path(arg)
        if not path.is_file():
            raise PipelineError(f"signing key {path} does not exist: pass an ed25519 private key file, or - to read it from stdin")
        return cls(path.read_text(), str(path))

    @contextlib.contextmanager
    def _file(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="hailo-sign-") as tmp:
            path = Path(tmp) / "key"
            path.touch(mode=0o600)
            path.write_text(self.text)
            yield path

    def sign(self, release_dir: Path) -> Signed:
        """Signs release_dir's SHA256SUMS into SHA256SUMS.sig (written only when it differs, atomically)."""
        with self._file() as path:
            proc = _ssh_keygen("-Y", "sign", "-f", str(path), "-n", NAMESPACE, stdin=(release_dir / SUMS).read_bytes())
            said = _said(proc).replace("Enter passphrase: ", "").replace(f'"{path}"', self.source)
        if proc.returncode != 0:
            raise PipelineError(f"could not sign with the key {self.source}: {said} (a key with a passphrase cannot sign here)")
        target = release_dir / SIGNATURE
        written = not (target.is_file() and target.read_bytes() == proc.stdout)
        if written:
            fd, tmp = tempfile.mkstemp(dir=release_dir, prefix=f".{SIGNATURE}.")
            with os.fdopen(fd, "wb") as fh:
                fh.write(proc.stdout)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        return Signed(key=signer(release_dir), principal="", written=written)


def signer(release_dir: Path) -> str:
    """The key SHA256SUMS.sig was made with, checked against SHA256SUMS but not against any list of signers."""
    sig = release_dir / SIGNATURE
    proc = _ssh_keygen("-Y", "check-novalidate", "-n", NAMESPACE, "-s", str(sig), stdin=(release_dir / SUMS).read_bytes())
    if proc.returncode != 0:
        raise PipelineError(
            f"{release_dir}: {SIGNATURE} does not match {SUMS} (changed after signing, or not a {NAMESPACE} signature): {_said(proc)}"
        )
    return _good(proc)["key"]


def signed_by(release_dir: Path, allowed_signers: Path) -> Signed:
    """Who signed a bundle release.check_sums(release_dir, allowed_signers) has accepted: the key and the name
    allowed_signers lists it under. A report, not a check."""
    sig = release_dir / SIGNATURE
    found = _ssh_keygen("-Y", "find-principals", "-s", str(sig), "-f", str(allowed_signers))
    if found.returncode != 0:
        raise PipelineError(f"{release_dir}: ssh-keygen finds no signer of {SIGNATURE} in {allowed_signers}: {_said(found)}")
    return Signed(key=signer(release_dir), principal=found.stdout.decode().split()[0])
