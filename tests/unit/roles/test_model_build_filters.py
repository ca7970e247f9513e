"""Role model_build's filters: a model_build_models entry -> the files to copy and the spec GPUSrv reads."""

from pathlib import Path
from types import ModuleType

import pytest
import yaml

from hailo_pipeline.builder.spec import parse_spec
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
