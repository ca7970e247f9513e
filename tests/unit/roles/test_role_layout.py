"""How the roles and playbooks are laid out: host logic in role-internal modules, a role only within its folder,
no playbook reaching into a role's private (__) variables, and each module documented for ansible-doc."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

ROLES = sorted(p for p in (REPO_ROOT / "roles").iterdir() if (p / "tasks").is_dir())
MODULES = sorted((REPO_ROOT / "roles").glob("*/library/*.py"))
PLAYBOOKS = sorted([*(REPO_ROOT / "playbooks").glob("*.yml"), *REPO_ROOT.glob("*.yml")])
# a role's own files only: role_path followed by /.. or dirname leaves the role's folder
LEAVES_ROLE = re.compile(r"role_path\s*}}\s*/\.\.|role_path\s*\|\s*dirname")


def _role_text(role: Path) -> list[tuple[Path, str]]:
    return [(p, p.read_text()) for p in sorted(role.rglob("*")) if p.is_file() and p.suffix in {".yml", ".yaml", ".j2", ".py"}]


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_a_role_runs_no_script_and_stays_within_its_folder(role: Path) -> None:
    for path, text in _role_text(role):
        assert "ansible.builtin.script" not in text, f"{path}: host logic belongs in the role's library/"
        assert not LEAVES_ROLE.search(text), f"{path}: a role uses only its own files"


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_playbook_names_a_private_variable(playbook: Path) -> None:
    assert not re.search(r"\b__[a-z]", playbook.read_text()), f"{playbook}: a role's __ variables are its own"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.stem)
def test_each_module_is_documented_and_supports_check_mode(module: Path) -> None:
    text = module.read_text()
    namespace: dict[str, object] = {}
    for name in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
        found = re.search(rf'^{name} = r"""(.*?)"""', text, re.MULTILINE | re.DOTALL)
        assert found, f"{module}: no {name}"
        namespace[name] = yaml.safe_load(found.group(1))
    documentation = namespace["DOCUMENTATION"]
    assert isinstance(documentation, dict)
    assert documentation["module"] == module.stem
    assert module.stem.startswith(module.parent.parent.name + "_"), "a module is named for its role"
    assert "supports_check_mode=True" in text
