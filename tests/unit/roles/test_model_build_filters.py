"""Role model_build's filters: a model_build_models entry -> the files to copy and the spec GPUSrv reads. Role
hailo_dfc's reading of the DFC wheel's requirements."""

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from hailo_pipeline.build.spec import parse_spec
from tests.conftest import REPO_ROOT, role_filter_plugin


@pytest.fixture(scope="module")
def filters() -> ModuleType:
    return role_filter_plugin("model_build", "model_spec")


def _entry(**changes: object) -> dict[str, object]:
    entry = yaml.safe_load((REPO_ROOT / "files/examples/tcn_encoder.yaml").read_text())
    entry["source"] = {"arch": "tcn_encoder", "checkpoint": "/srv/models/run-7/best.pth"}
    entry.update(changes)
    return entry


def test_checkpoint_and_npy_calibration_are_copied_and_named_by_file_name(filters: ModuleType, tmp_path: Path) -> None:
    entry = _entry(calibration={"source": "/data/imu/calib.npy", "windows": 2048})
    assert filters.model_build_inputs(entry) == ["/srv/models/run-7/best.pth", "/data/imu/calib.npy"]
    spec = filters.model_build_spec(entry, True)
    assert spec["source"] == {"arch": "tcn_encoder", "checkpoint": "best.pth"}
    assert spec["calibration"] == {"source": "calib.npy", "windows": 2048}
    assert spec["require_hef"] is True
    assert entry["source"]["checkpoint"] == "/srv/models/run-7/best.pth"  # the inventory's entry is untouched
    # What the role renders is a spec hailo-pipeline accepts, its files resolved next to it.
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    parsed = parse_spec(spec, tmp_path)
    assert parsed.source.checkpoint == tmp_path / "best.pth"


def test_onnx_source_with_synthetic_calibration_and_an_explicit_require_hef(filters: ModuleType) -> None:
    entry = _entry(source={"onnx": "exports/tcn.onnx"}, require_hef=False)
    assert filters.model_build_inputs(entry) == ["exports/tcn.onnx"]
    spec = filters.model_build_spec(entry, True)
    assert spec["source"] == {"onnx": "tcn.onnx"}
    assert spec["require_hef"] is False


def test_the_dfc_role_reads_what_the_wheel_requires_and_checks_its_python(tmp_path: Path) -> None:
    """roles/hailo_dfc: files/wheel_metadata.py (stdlib, run on GPUSrv) and the Requires-Python filter (controller)."""
    from tests.support.doubles.build_dfc_wheel import build

    script = REPO_ROOT / "roles/hailo_dfc/files/wheel_metadata.py"
    read = subprocess.run([sys.executable, str(script), str(build(tmp_path))], capture_output=True, text=True, check=True)
    declared = json.loads(read.stdout)
    assert (declared["name"], declared["version"], declared["requires_python"]) == ("hailo_dataflow_compiler", "3.33.0", ">=3.10,<3.13")
    assert "numpy==1.26.4" in declared["requires_dist"]
    accepted = role_filter_plugin("hailo_dfc", "requires_python").FilterModule().filters()["hailo_dfc_python_accepted"]
    assert accepted("3.11.2", declared["requires_python"])
    assert not accepted("3.13.5", declared["requires_python"])
    assert not accepted("3.11.2", "==3.10.*")
    assert accepted("3.13.5", "")
