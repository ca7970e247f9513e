"""Test helper: ed25519 signing keys made with ssh-keygen, and the allowed-signers file that lists them."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Signer:
    principal: str
    key: Path  # the private key; its public half is key.pub

    def allowed_line(self) -> str:
        kind, blob = self.key.with_suffix(".pub").read_text().split()[:2]
        return f"{self.principal} {kind} {blob}\n"


def make_signer(folder: Path, principal: str, kind: str = "ed25519") -> Signer:
    key = folder / f"{principal}.key"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", principal, "-f", str(key)], check=True)
    key.with_name(f"{principal}.key.pub").rename(key.with_suffix(".pub"))
    return Signer(principal, key)


def fingerprint(signer: Signer) -> str:
    """As ssh-keygen names a key in what it says: "ED25519 key SHA256:..."."""
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(signer.key)], capture_output=True, text=True, check=True).stdout
    return f"{listed.split()[-1].strip('()')} key {listed.split()[1]}"


def allowed_signers(path: Path, *signers: Signer) -> Path:
    path.write_text("".join(s.allowed_line() for s in signers))
    return path
