"""Test helper: damage a release bundle the way a careless hand edit would, keeping its checksums consistent.

Also a command for scenarios that need such a bundle:  python tests/support/tamper.py break-goldens|edit-report BUNDLE_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from hailo_pipeline.bundle.release import sha256_bytes
from hailo_pipeline.bundle.trust import SIGNATURE, SUMS, sha256_file


def rewrite_sums(bundle: Path) -> None:
    """Makes SHA256SUMS match whatever is in the folder now (a signature stays as it was)."""
    lines = sorted(f"{sha256_bytes(p.read_bytes())}  {p.name}\n" for p in bundle.iterdir() if p.name not in (SUMS, SIGNATURE))
    (bundle / SUMS).write_text("".join(lines))


def break_goldens(bundle: Path) -> None:
    """Negates the golden latents, so the bundle's own model no longer reproduces them; manifest and sums agree."""
    with np.load(bundle / "golden.npz") as golden:
        arrays = dict(golden)
    arrays["latent"] = arrays["latent"] * -1
    np.savez(bundle / "golden.npz", **arrays)
    manifest = json.loads((bundle / "release.json").read_text())
    manifest["files"]["golden.npz"] = sha256_file(bundle / "golden.npz")
    (bundle / "release.json").write_text(json.dumps(manifest))
    rewrite_sums(bundle)


def edit_report(bundle: Path) -> None:
    """Rewrites report.html, then SHA256SUMS to match: only a signature made before still tells."""
    (bundle / "report.html").write_text("<p>edited after the build</p>")
    rewrite_sums(bundle)


COMMANDS = {"break-goldens": break_goldens, "edit-report": edit_report}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python tests/support/tamper.py {'|'.join(COMMANDS)} BUNDLE_DIR")
    COMMANDS[sys.argv[1]](Path(sys.argv[2]))
