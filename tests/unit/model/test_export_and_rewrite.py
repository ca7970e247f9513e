"""Export and import-onnx both end in the same Hailo-friendly graph, and prove it on fixed windows."""

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.export import export_onnx, torch_to_onnx
from hailo_pipeline.model.onnx_model import OnnxModel
from hailo_pipeline.model.onnx_rewrite import import_onnx, rewrite_for_hailo
from hailo_pipeline.model.parity import compare
from hailo_pipeline.model.preflight import preflight

HAILO_FRIENDLY_OPS = {"Conv", "Relu", "Pad", "Add", "GlobalAveragePool"}


def _dims(value: onnx.ValueInfoProto) -> list[int]:
    return [d.dim_value for d in value.type.tensor_type.shape.dim]


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def test_tcn_export_is_static_4d_causal_and_exact(sources: dict[str, Path]) -> None:
    exported = export_onnx("tcn_encoder", sources["tcn_encoder"], 100)
    model = onnx.load_from_string(exported.onnx)
    assert model.opset_import[0].version == 11
    assert (model.graph.input[0].name, _dims(model.graph.input[0])) == ("imu_window", [1, 9, 1, 100])
    assert (model.graph.output[0].name, _dims(model.graph.output[0])) == ("latent", [1, 64, 1, 1])
    ops = Counter(n.op_type for n in model.graph.node)
    assert set(ops) == HAILO_FRIENDLY_OPS
    assert ops["Pad"] == 6
    convs = [_attrs(n) for n in model.graph.node if n.op_type == "Conv" and _attrs(n)["kernel_shape"] == [1, 3]]
    assert sorted({tuple(c["dilations"]) for c in convs}) == [(1, 1), (1, 2), (1, 4)]
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    pads = [inits[n.input[1]].tolist() for n in model.graph.node if n.op_type == "Pad"]
    assert sorted({p[3] for p in pads}) == [2, 4, 8]
    assert all(p[:3] == [0, 0, 0] and p[4:] == [0, 0, 0, 0] for p in pads), "causal: zeros on the left of time only"
    assert exported.parity.cosine_min >= 0.99999
    assert preflight(model) == []


def test_fsq_export_stops_before_round(sources: dict[str, Path]) -> None:
    exported = export_onnx("conv2d_fsq", sources["conv2d_fsq"], 100)
    model = onnx.load_from_string(exported.onnx)
    assert _dims(model.graph.input[0]) == [1, 9, 2, 100]
    assert _dims(model.graph.output[0]) == [1, 5, 1, 1]
    assert "Round" not in {n.op_type for n in model.graph.node}
    assert exported.parity.cosine_min >= 0.99999
    assert preflight(model) == []


def test_original_tcn_onnx_has_the_real_exports_structure(sources: dict[str, Path]) -> None:
    model = onnx.load(str(sources["tcn_encoder_onnx"]))
    census = Counter(n.op_type for n in model.graph.node)
    assert census == {"Constant": 24, "Conv": 9, "Relu": 9, "Slice": 6, "Add": 3, "Transpose": 1} | {
        "GlobalAveragePool": 1,
        "Squeeze": 1,
        "Gemm": 1,
    }
    assert _dims(model.graph.input[0]) == [1, 100, 9]


def test_import_onnx_rewrites_the_original_into_the_exported_form(sources: dict[str, Path]) -> None:
    imported = import_onnx(sources["tcn_encoder_onnx"].read_bytes())
    model = onnx.load_from_string(imported.onnx)
    assert set(Counter(n.op_type for n in model.graph.node)) == HAILO_FRIENDLY_OPS
    assert _dims(model.graph.input[0]) == [1, 9, 1, 100]
    assert imported.input_layout == "NTC"
    assert imported.parity.cosine_min >= 0.99999
    assert preflight(model) == []
    assert any("Slice chomp 8 -> Pad left 8 right 0" in c for c in imported.changes)
    # Same weights, two routes: the rewritten original and our own export compute the same latents.
    windows = np.random.default_rng(5).standard_normal((6, 9, 1, 100)).astype(np.float32)
    ours = OnnxModel(export_onnx("tcn_encoder", sources["tcn_encoder"], 100).onnx).run(windows)
    assert compare(ours, OnnxModel(imported.onnx).run(windows)).cosine_min >= 0.99999


class _SymmetricConv1d(torch.nn.Module):
    """Non-causal Conv1d on an NCT input (no Transpose, no chomp), then GAP + Squeeze + Linear."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv1d(9, 16, 5, padding=2, dilation=1)
        self.pool = torch.nn.MaxPool1d(2)
        self.fc = torch.nn.Linear(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(torch.relu(self.conv(x)))
        return self.fc(y.mean(dim=2, keepdim=True).squeeze(2))


def test_import_onnx_handles_nct_input_symmetric_pads_and_pooling() -> None:
    data = torch_to_onnx(_SymmetricConv1d(), torch.zeros(1, 9, 100), "x", "y")
    imported = import_onnx(data)
    assert imported.input_layout == "NCT"
    assert imported.parity.cosine_min >= 0.99999
    conv = next(n for n in onnx.load_from_string(imported.onnx).graph.node if n.op_type == "Conv")
    assert _attrs(conv)["pads"] == [0, 2, 0, 2]


def test_rewrite_refuses_what_it_cannot_prove(sources: dict[str, Path]) -> None:
    with pytest.raises(PipelineError, match="not an ONNX model"):
        import_onnx(b'{"mock_hef": true}')
    model = onnx.load(str(sources["tcn_encoder_onnx"]))
    model.opset_import[0].version = 9
    with pytest.raises(PipelineError, match="opset 9 is older than 11"):
        rewrite_for_hailo(model)
