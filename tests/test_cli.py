import subprocess
import sys

from hailo_pipeline import __version__
from hailo_pipeline.cli import main


def test_console_script_reports_the_package_version() -> None:
    out = subprocess.run(["hailo-pipeline", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"hailo-pipeline {__version__}"


def test_module_entry_point_matches_console_script() -> None:
    out = subprocess.run([sys.executable, "-m", "hailo_pipeline", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert __version__ in out.stdout


def test_no_subcommand_prints_help_and_fails(capsys) -> None:
    assert main([]) == 2
    assert "usage: hailo-pipeline" in capsys.readouterr().err
