"""The preflight names each node the Hailo parser is known to reject, with the reason."""

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from hailo_pipeline.model.preflight import errors, preflight


def _graph(nodes: list[onnx.NodeProto], input_dims: list[int | str], output: str = "y") -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_dims)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])


def test_original_tcn_export_findings_name_every_offending_node(sources: dict[str, Path]) -> None:
    findings = preflight(onnx.load(str(sources["tcn_encoder_onnx"])))
    by_op: dict[str, list[str]] = {}
    for f in findings:
        assert f.severity == "error"
        by_op.setdefault(f.op, []).append(f.node)
    assert by_op["Transpose"] == ["/Transpose"]
    assert by_op["Squeeze"] == ["/Squeeze"]
    assert len(by_op["Slice"]) == 6
    assert len(by_op["Conv"]) == 9  # every Conv1d
    assert by_op["input rank"] == ["imu_window"]
    conv = next(f for f in findings if f.op == "Conv")
    assert "Conv2d with a (1, k) kernel" in conv.reason


def test_ops_the_parser_rejects_are_errors() -> None:
    nodes = [
        helper.make_node("Round", ["x"], ["r"], name="fsq_round"),
        helper.make_node("Tile", ["r", "reps"], ["t"], name="tile"),
        helper.make_node("Constant", [], ["reps"], value=helper.make_tensor("v", TensorProto.INT64, [4], [1, 1, 1, 1])),
        helper.make_node("GatherElements", ["t", "idx"], ["y"], name="gather"),
        helper.make_node("Constant", [], ["idx"], value=helper.make_tensor("i", TensorProto.INT64, [1, 1, 1, 1], [0])),
    ]
    found = {(f.node, f.op) for f in errors(preflight(_graph(nodes, [1, 9, 1, 100])))}
    assert {("fsq_round", "Round"), ("tile", "Tile"), ("gather", "GatherElements")} <= found


def test_dynamic_batch_is_an_error_and_reshape_a_warning() -> None:
    model = _graph([helper.make_node("Reshape", ["x", "s"], ["y"], name="flat")], ["batch", 9, 1, 100])
    model.graph.initializer.append(helper.make_tensor("s", TensorProto.INT64, [2], [-1, 900]))
    findings = preflight(model)
    dynamic = [f for f in findings if f.op == "dynamic shape"]
    assert dynamic
    assert dynamic[0].node == "x"
    assert dynamic[0].severity == "error"
    assert [(f.node, f.severity) for f in findings if f.op == "Reshape"] == [("flat", "warning")]


def test_rank3_concat_is_flagged() -> None:
    nodes = [helper.make_node("Concat", ["x", "x"], ["y"], name="cat", axis=1)]
    assert [(f.node, f.op) for f in preflight(_graph(nodes, [1, 9, 100])) if f.op == "Concat"] == [("cat", "Concat")]
