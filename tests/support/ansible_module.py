"""Runs a role's module (roles/<role>/library/<name>.py) as Ansible runs it on a host: its own Python process, its
arguments as JSON, its result as JSON on stdout. No Ansible controller, no connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.conftest import REPO_ROOT


def run_module(role: str, name: str, args: dict[str, Any], check_mode: bool = False, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The module's result; a failed module's too (result["failed"])."""
    module = REPO_ROOT / "roles" / role / "library" / f"{name}.py"
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check_mode}})
    environment = {**os.environ, **(env or {})}
    done = subprocess.run([sys.executable, str(module), payload], capture_output=True, text=True, env=environment, check=False)
    try:
        return dict(json.loads(done.stdout))
    except json.JSONDecodeError as error:
        raise AssertionError(f"{name} printed no JSON (exit {done.returncode}): {done.stdout}{done.stderr}") from error
