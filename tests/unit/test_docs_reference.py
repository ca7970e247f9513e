"""The generated reference pages under docs/reference/ are what scripts/docs_reference.py makes from the code now."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference", REPO_ROOT / "scripts/docs_reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()
PAGES = GENERATOR.pages()


@pytest.mark.parametrize("page", sorted(PAGES), ids=str)
def test_committed_page_is_what_the_code_generates(page: Path) -> None:
    committed = REPO_ROOT / page
    assert committed.is_file(), f"{page} is missing: run scripts/docs_reference.py and commit it"
    assert committed.read_text() == PAGES[page], f"{page} differs from the code: run scripts/docs_reference.py and commit it"


def test_every_role_has_a_variables_page_and_no_page_outlives_its_role() -> None:
    roles = {p.parent.parent.name for p in (REPO_ROOT / "roles").glob("*/meta/argument_specs.yml")}
    assert {p.stem for p in PAGES if p.parent.name == "roles"} == roles
    assert GENERATOR.stale() == []


def test_every_setting_every_command_and_every_role_variable_is_on_its_page() -> None:
    import yaml

    from hailo_pipeline.cli import build_parser
    from hailo_pipeline.serve.settings import reference

    settings = PAGES[Path("docs/reference/settings.md")]
    assert all(f"`{env}`" in settings for env, _, _ in reference())
    cli = PAGES[Path("docs/reference/cli.md")]
    (sub,) = (a for a in build_parser()._actions if a.dest == "command")
    assert all(f"\n## {name}\n" in cli for name in sub.choices)
    for specs in (REPO_ROOT / "roles").glob("*/meta/argument_specs.yml"):
        page = PAGES[Path("docs/reference/roles") / f"{specs.parent.parent.name}.md"]
        for entry, spec in yaml.safe_load(specs.read_text())["argument_specs"].items():
            assert f"## Entry point `{entry}`" in page
            assert all(f"| `{option}` |" in page for option in spec.get("options") or {})
