from pathlib import Path

import pytest
import yaml

from hailo_pipeline.builder.spec import IMU_CHANNELS, load_spec, parse_spec
from hailo_pipeline.errors import PipelineError
from tests.conftest import EXAMPLE_SPEC, example_spec_dict


def test_bundled_example_spec_gets_documented_defaults() -> None:
    spec = load_spec(EXAMPLE_SPEC)
    assert (spec.name, spec.version, spec.source.arch) == ("tcn-encoder", "1.0.0", "tcn_encoder")
    assert spec.source.checkpoint == (EXAMPLE_SPEC.parent / "../../artifacts/examples/tcn_encoder_example.pt").resolve()
    assert spec.input.channels == IMU_CHANNELS
    assert (spec.motif_head.kind, spec.motif_head.count) == ("prototypes", 12)
    assert (spec.calibration.source, spec.calibration.windows, spec.calibration.min_windows) == ("synthetic", 1024, 1024)
    assert spec.hw_arch == "hailo8"
    assert (spec.gates.export_cosine_min, spec.gates.quantized_cosine_min) == (0.99999, 0.98)
    assert spec.outputs.latent_dim == 64
    assert spec.require_hef is False
    assert spec.input.units == spec.input.client_units == ("m/s^2",) * 3 + ("rad/s",) * 3 + ("uT",) * 3


def test_client_units_default_to_the_models_and_change_the_build_id(tmp_path: Path) -> None:
    raw = example_spec_dict()
    raw["input"] = {**raw["input"], "units": {"mx": "gauss"}}
    trained_in_gauss = parse_spec(raw, tmp_path)
    assert trained_in_gauss.input.units[6:] == ("gauss", "uT", "uT")
    assert trained_in_gauss.input.client_units == trained_in_gauss.input.units
    raw["input"]["client_units"] = {"gx": "deg/s", "gy": "deg/s", "gz": "deg/s"}
    deg_clients = parse_spec(raw, tmp_path)
    assert deg_clients.input.client_units[3:7] == ("deg/s", "deg/s", "deg/s", "gauss")
    assert deg_clients.canonical_json() != trained_in_gauss.canonical_json()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "blue"}, "unknown key(s) colour"),
        ({"calibration": {"windowz": 10}}, "calibration.windowz"),
        ({"calibration": {"windows": "many"}}, "calibration.windows must be int, got 'many'"),
        ({"gates": {"export_cosine_min": "high"}}, "gates.export_cosine_min must be float"),
        ({"hw_arch": "hailo9"}, "hw_arch must be one of ['hailo8', 'hailo8l'], got 'hailo9'"),
        ({"input": {"window": 100, "channels": ["ax", "ay"]}}, "input.channels must be EdgeInfer's order"),
        ({"input": {"window": "100"}}, "input.window must be an integer"),
        ({"input": {"window": 100, "units": {"gx": "dps"}}}, "input.units.gx: unknown unit 'dps'; valid units for gx (angular rate)"),
        ({"input": {"window": 100, "client_units": {"az": "deg/s"}}}, "input.client_units.az: 'deg/s' is angular rate, not acceleration"),
        ({"input": {"window": 100, "client_units": {"gw": "deg/s"}}}, "input.client_units: unknown channel(s) gw"),
        ({"input": {"window": 100, "sample_traffic": "walk.json"}}, "input.sample_traffic must be list, got 'walk.json'"),
        ({"normalization": {"mean": [0] * 8, "std": [1] * 9}}, "normalization.mean must be a list of 9 numbers"),
        ({"normalization": {"mean": [0] * 9, "std": [1] * 8 + [0]}}, "normalization.std must be positive"),
        ({"source": {"onnx": "m.onnx", "arch": "tcn_encoder", "checkpoint": "c.pt"}}, "either 'onnx' or both"),
        ({"source": {"arch": "resnet", "checkpoint": "c.pt"}}, "source.arch must be one of"),
        ({"source": {"arch": "tcn_encoder"}}, "needs source.checkpoint"),
        ({"motif_head": {"kind": "magic"}}, "motif_head.kind must be one of"),
        ({"name": "my model"}, "name must be a non-empty word"),
    ],
)
def test_bad_spec_values_are_named(change: dict[str, object], message: str) -> None:
    raw = example_spec_dict() | change
    with pytest.raises(PipelineError) as err:
        parse_spec(raw, Path("."))
    assert message in str(err.value)


def test_missing_required_keys_are_listed() -> None:
    raw = example_spec_dict()
    del raw["normalization"], raw["version"]
    with pytest.raises(PipelineError, match="missing required key\\(s\\) version, normalization"):
        parse_spec(raw, Path("."))


def test_yaml_errors_and_missing_files_are_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(PipelineError) as err:
        load_spec(broken)
    assert "not valid YAML" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(PipelineError, match="not found"):
        load_spec(tmp_path / "absent.yaml")


def test_canonical_json_ignores_formatting_but_not_meaning(tmp_path: Path) -> None:
    raw = example_spec_dict()
    a = tmp_path / "a.yaml"
    a.write_text(yaml.safe_dump(raw, default_flow_style=True))
    b = tmp_path / "b.yaml"
    b.write_text(yaml.safe_dump(raw, default_flow_style=False, sort_keys=False))
    assert load_spec(a).canonical_json() == load_spec(b).canonical_json()
    raw["motif_head"] = {"seed": 1}
    b.write_text(yaml.safe_dump(raw))
    assert load_spec(a).canonical_json() != load_spec(b).canonical_json()
