"""Debian's promtool, which scripts/bootstrap links into the venv: the Prometheus rules' and config's own checker."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

MONITORING = REPO_ROOT / "files/monitoring"


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    assert tool, "promtool not found: scripts/bootstrap links Debian's into the venv"
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, check=False)
