"""The INT8 preview's per-layer advisor: a TCN with the wide activation channels of a trained one fails the
preview; the advice names those layers, its 16-bit lines lift the preview over the gate, a spec takes them as
they are, and `build --apply-advice` writes them into the model script as Hailo layers."""

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import onnx
import pytest
import yaml

from hailo_pipeline.builder.int8_preview import layers
from hailo_pipeline.builder.pipeline import build, plan
from hailo_pipeline.builder.spec import parse_spec
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.onnx_rewrite import import_onnx
from tests.conftest import SMALL_CALIBRATION, example_spec_dict

OUTLIER_LAYERS = ["/blocks.0/conv1/Conv", "/blocks.1/conv1/Conv"]  # examples.OUTLIER_CHANNELS: blocks 0 and 1


def _spec(folder: Path, source: Path, **overrides: Any) -> Path:
    spec = example_spec_dict() | {"calibration": SMALL_CALIBRATION, "source": {"onnx": str(source)}} | overrides
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _manifest(release: Path) -> dict[str, Any]:
    return json.loads((release / "release.json").read_text())


@pytest.fixture(scope="module")
def outlier_build(tmp_path_factory: pytest.TempPathFactory, sources: dict[str, Path]) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("outliers")
    return _manifest(build(_spec(folder, sources["tcn_encoder_outliers_onnx"]), folder / "out").release_dir)


def test_layers_fuse_activation_and_the_next_pad_and_skip_the_input_pad(sources: dict[str, Path]) -> None:
    found = {layer.name: layer for layer in layers(onnx.load_from_string(import_onnx(sources["tcn_encoder_onnx"].read_bytes()).onnx))}
    conv1 = found["/blocks.0/conv1/Conv"]
    assert conv1.op_type == "Conv"
    assert len(conv1.weights) == 1
    assert len(conv1.tensors) == 3, "the conv, its Relu and the pad of conv2's input"
    assert "/blocks.0/conv1/Conv_pad" not in found, "padding the network input is no layer"
    assert [n for n in found if n.endswith("Add")] == ["/blocks.0/Add", "/blocks.1/Add", "/blocks.2/Add"]
    assert len(found) == 14


def test_outlier_tcn_fails_the_preview_and_the_advice_names_its_wide_layers(outlier_build: dict[str, Any]) -> None:
    preview = outlier_build["gates"]["int8_preview"]
    advice = preview["advice"]
    before = preview["results"]["latent"]["cosine_min"]
    assert not preview["passed"]
    assert before < 0.9
    assert advice["layers"] == OUTLIER_LAYERS
    assert advice["alls"] == [f"quantization_param({layer}, precision_mode=a16_w16)" for layer in OUTLIER_LAYERS]
    assert advice["passed_after"]
    assert advice["latent_cosine_min_after"] >= 0.98 > before
    assert advice["after"]["results"]["motif_scores"]["cosine_min"] >= 0.98
    ranked = advice["per_layer"]
    assert [row["layer"] for row in ranked[:2]] == OUTLIER_LAYERS
    assert [row["cosine_min"] for row in ranked] == sorted(row["cosine_min"] for row in ranked)
    assert set(ranked[0]["errors"]) == {"latent", "motif_scores"}
    assert not advice["applied"]


def test_a_model_that_passes_gets_no_advice_but_its_sensitivity(tmp_path: Path, sources: dict[str, Path]) -> None:
    preview = _manifest(build(_spec(tmp_path, sources["tcn_encoder_onnx"]), tmp_path / "out").release_dir)["gates"]["int8_preview"]
    assert preview["passed"]
    assert preview["advice"]["layers"] == []
    assert preview["advice"]["alls"] == []
    assert len(preview["advice"]["per_layer"]) == 14


def test_the_preview_quantizes_activations_to_uint8_with_a_zero_point(tmp_path: Path, sources: dict[str, Path]) -> None:
    import numpy as np

    from hailo_pipeline.builder import int8_preview
    from hailo_pipeline.bundle.heads import LatentHead
    from hailo_pipeline.bundle.motif_head import fit_prototypes
    from hailo_pipeline.model.onnx_model import OnnxModel

    graph = import_onnx(sources["tcn_encoder_onnx"].read_bytes()).onnx
    windows = np.random.default_rng(0).standard_normal((64, 9, 1, 100)).astype(np.float32)
    fp = OnnxModel(graph).run(windows)
    head = LatentHead(fit_prototypes(fp.reshape(64, -1), 12))
    int8_preview.Preview(graph, windows, windows[:8], fp[:8], head, 0.98, tmp_path).run()
    quantized = onnx.load(tmp_path / "quantized.onnx")
    inits = {i.name: i for i in quantized.graph.initializer}
    zero_points = [inits[n.input[2]] for n in quantized.graph.node if n.op_type == "QuantizeLinear"]
    assert zero_points
    assert {z.data_type for z in zero_points} == {onnx.TensorProto.UINT8}
    assert any(onnx.numpy_helper.to_array(z).item() != 0 for z in zero_points), "asymmetric: some zero point is not 0"


def test_a_spec_takes_the_advice_lines_as_they_are(tmp_path: Path, sources: dict[str, Path], outlier_build: dict[str, Any]) -> None:
    alls = outlier_build["gates"]["int8_preview"]["advice"]["alls"]
    release = build(
        _spec(tmp_path, sources["tcn_encoder_outliers_onnx"], dfc={"quantization_overrides": alls}), tmp_path / "out"
    ).release_dir
    manifest = _manifest(release)
    preview = manifest["gates"]["int8_preview"]
    assert preview["sixteen_bit_in_spec"] == OUTLIER_LAYERS
    assert preview["passed"], "the preview emulates the spec's 16-bit layers"
    assert manifest["quantization_overrides"] == alls


@pytest.mark.parametrize(
    "entry",
    ["quantization_param(/a/Conv precision_mode=a16_w16)", "quantization_param(/a/Conv, precision_mode=a32_w32)", {"layer": "x"}],
)
def test_a_bad_override_says_what_is_wrong(entry: Any) -> None:
    raw = example_spec_dict() | {"dfc": {"quantization_overrides": [entry]}}
    with pytest.raises(PipelineError, match=r"quantization_overrides|precision_mode must be one of"):
        parse_spec(raw, Path("."))


def test_apply_advice_writes_hailo_layers_into_the_model_script(tmp_path: Path, sources: dict[str, Path], dfc_double: ModuleType) -> None:
    spec = _spec(tmp_path, sources["tcn_encoder_outliers_onnx"])
    assert plan(spec, tmp_path / "out", apply_advice=True).build_id != plan(spec, tmp_path / "out").build_id
    release = build(spec, tmp_path / "out", apply_advice=True).release_dir
    manifest = _manifest(release)
    assert manifest["gates"]["int8_preview"]["advice"]["applied"]
    assert manifest["quantization_overrides"] == manifest["gates"]["int8_preview"]["advice"]["alls"]
    script = (release / "model.alls").read_text()
    # the double's parser numbers convs in graph order: blocks.0 conv1, conv2, downsample, then blocks.1 conv1
    assert "quantization_param(tcn_encoder/conv1, precision_mode=a16_w16)" in script
    assert "quantization_param(tcn_encoder/conv4, precision_mode=a16_w16)" in script
    assert "/blocks" not in script


def test_an_override_no_hailo_layer_holds_fails_naming_the_layers(tmp_path: Path, sources: dict[str, Path], dfc_double: ModuleType) -> None:
    overrides = ["quantization_param(/no/such/Conv, precision_mode=a16_w16)"]
    spec = _spec(tmp_path, sources["tcn_encoder_onnx"], dfc={"quantization_overrides": overrides})
    with pytest.raises(PipelineError, match=r"'/no/such/Conv', which is neither a Hailo layer .* layers: tcn_encoder/avgpool1"):
        build(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
