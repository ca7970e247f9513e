"""Role hailo_dfc: its module reads what the DFC wheel declares (library/hailo_dfc_wheel_metadata.py, on GPUSrv),
and its filter checks the wheel's Requires-Python (controller)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import role_filter_plugin
from tests.support.ansible_module import run_module
from tests.support.doubles.build_dfc_wheel import build


@pytest.mark.parametrize("check_mode", [False, True])
def test_the_module_reads_what_the_wheel_declares_and_changes_nothing(tmp_path: Path, check_mode: bool) -> None:
    declared = run_module("hailo_dfc", "hailo_dfc_wheel_metadata", {"path": str(build(tmp_path))}, check_mode=check_mode)
    assert not declared.get("failed"), declared
    assert declared["changed"] is False
    assert (declared["name"], declared["version"], declared["requires_python"]) == ("hailo_dataflow_compiler", "3.33.0", ">=3.10,<3.13")
    assert "numpy==1.26.4" in declared["requires_dist"]


def test_the_module_fails_on_a_file_that_is_not_a_wheel(tmp_path: Path) -> None:
    (tmp_path / "not.whl").write_text("not a zip")
    result = run_module("hailo_dfc", "hailo_dfc_wheel_metadata", {"path": str(tmp_path / "not.whl")})
    assert result["failed"] is True
    assert "is not a wheel with a METADATA" in result["msg"]


def test_the_filter_checks_the_interpreter_against_requires_python() -> None:
    accepted = role_filter_plugin("hailo_dfc", "requires_python").FilterModule().filters()["hailo_dfc_python_accepted"]
    assert accepted("3.11.2", ">=3.10,<3.13")
    assert not accepted("3.13.5", ">=3.10,<3.13")
    assert not accepted("3.11.2", "==3.10.*")
    assert accepted("3.13.5", "")
