"""Debian's promtool and prometheus, which scripts/bootstrap links into the venv: the Prometheus rules' and config's
own checker, and the server that evaluates them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

MONITORING = REPO_ROOT / "files/monitoring"


def debian_tool(name: str) -> str | None:
    """`name` (promtool, prometheus) in the venv of the interpreter running the tests, or else on PATH."""
    return shutil.which(name, path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    tool = debian_tool("promtool")
    assert tool, "promtool not found: scripts/bootstrap links Debian's into the venv"
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, check=False)
