"""Constant folding and static shapes for exported graphs.

PyTorch's opset-11 exporter writes a zero pad as a small subgraph that computes the pads tensor
(ConstantOfShape, Concat, Reshape, Slice, Transpose, Cast). Every one of those nodes depends only on
constants, so it is evaluated here once and replaced by an initializer: what remains is the graph the
Hailo parser should see (Pad with constant pads, Conv, Relu, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator


def _constants(graph: onnx.GraphProto) -> dict[str, NDArray[Any]]:
    return {init.name: numpy_helper.to_array(init) for init in graph.initializer}


def _evaluate(node: onnx.NodeProto, inputs: list[NDArray[Any]], opset: int) -> list[NDArray[Any]]:
    if node.op_type == "Constant":
        return [numpy_helper.to_array(node.attribute[0].t)] if node.attribute[0].name == "value" else []
    graph = helper.make_graph(
        [node],
        "fold",
        [helper.make_tensor_value_info(f"in{i}", helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for i, a in enumerate(inputs)],
        [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output],
    )
    renamed = onnx.NodeProto()
    renamed.CopyFrom(node)
    del renamed.input[:]
    renamed.input.extend(f"in{i}" if name else "" for i, name in enumerate(node.input))
    graph.node[0].CopyFrom(renamed)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    evaluator = ReferenceEvaluator(model)
    feeds = {f"in{i}": a for i, a in enumerate(inputs)}
    return [np.asarray(v) for v in evaluator.run(None, feeds)]


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replaces every node whose inputs are all constant by initializers; drops unused initializers."""
    graph = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    known = _constants(graph)
    kept: list[onnx.NodeProto] = []
    for node in graph.node:
        inputs = [n for n in node.input if n]
        if all(n in known for n in inputs) and node.op_type not in ("RandomNormal", "RandomUniform"):
            values = _evaluate(node, [known[n] for n in inputs], opset)
            if len(values) == len(node.output):
                known.update(zip(node.output, values, strict=True))
                continue
        kept.append(node)
    used = {n for node in kept for n in node.input} | {o.name for o in graph.output}
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(np.asarray(v), name) for name, v in known.items() if name in used)
    return model


def make_shapes_static(model: onnx.ModelProto) -> onnx.ModelProto:
    """Re-infers every intermediate and output shape from the (static) input shape."""
    del model.graph.value_info[:]
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(inferred)
    return inferred


def finalize(model: onnx.ModelProto) -> bytes:
    return bytes(make_shapes_static(fold_constants(model)).SerializeToString())
