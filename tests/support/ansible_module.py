"""Runs a role-internal Ansible module (roles/<role>/library/<name>.py) in this process, as Ansible would on a host:
its arguments through ansible.module_utils.testing.patch_module_args, the role's module_utils/ importable as
ansible.module_utils.<name>, and what it would send back (exit_json or fail_json) as a dict."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from ansible.module_utils.testing import patch_module_args

from tests.conftest import REPO_ROOT


def _load(name: str, path: Any) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def role_module(role: str, name: str) -> ModuleType:
    """The module, with its role's module_utils in place (as AnsiballZ packs them)."""
    for util in sorted((REPO_ROOT / "roles" / role / "module_utils").glob("*.py")):
        sys.modules[f"ansible.module_utils.{util.stem}"] = _load(f"ansible.module_utils.{util.stem}", util)
    return _load(f"{role}_{name}", REPO_ROOT / "roles" / role / "library" / f"{name}.py")


def run(module: ModuleType, check_mode: bool = False, **args: Any) -> dict[str, Any]:
    """module.main() with args; its result ("failed" and "msg" on fail_json)."""
    out = io.StringIO()
    arguments = patch_module_args({**args, "_ansible_check_mode": check_mode})
    with arguments, contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):  # exit_json, fail_json: sys.exit
        module.main()
    return dict(json.loads(out.getvalue()))


def run_module(role: str, name: str, args: dict[str, Any], check_mode: bool = False, env: dict[str, str] | None = None) -> dict[str, Any]:
    """roles/<role>/library/<name>.py run with args (and env over this process's environment, as the host's)."""
    with mock.patch.dict(os.environ, env or {}):
        return run(role_module(role, name), check_mode=check_mode, **args)


def docker_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """A `docker` that is this shell script, first on PATH before the system's /usr/bin and /bin only."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/docker").write_text(script)
    (tmp_path / "bin/docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
