"""Rewrite a bring-your-own ONNX (PyTorch's export of a 1-D TCN) into the form the Hailo parser accepts.

Recognised and rewritten:
  input (1, T, C) + Transpose(0, 2, 1)   ->  input (1, C, 1, T) NCHW, Transpose removed
  input (1, C, T)                        ->  input (1, C, 1, T)
  Conv1d (weights O x I x k)             ->  Conv2d with (1, k) kernel, (1, d) dilation, (1, s) stride
  Conv1d pads [p, p] + Slice chomp of c  ->  zero Pad of p on the left and p - c on the right, Conv unpadded
  MaxPool/AveragePool 1-D                ->  (1, k) pooling
  ReduceMean over time, keepdims         ->  GlobalAveragePool (H is 1, so it is the same mean)
  GlobalAveragePool + Squeeze + Gemm     ->  GlobalAveragePool + 1x1 Conv (output (1, F, 1, 1))
Anything else is left as it is; the preflight then names what the Hailo parser would still reject.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper, numpy_helper

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.onnx_fold import finalize, fold_constants
from hailo_pipeline.model.onnx_model import OnnxModel
from hailo_pipeline.model.parity import Parity, compare


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _set_attr(node: onnx.NodeProto, name: str, value: Any) -> None:
    for i, a in enumerate(node.attribute):
        if a.name == name:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(name, value))


class _Graph:
    """Index of a folded graph: constants by name, consumers by tensor, and the edits to apply."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.graph = model.graph
        self.consts: dict[str, NDArray[Any]] = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in self.graph.node:
            for name in node.input:
                self.consumers[name].append(node)
        self.removed: set[int] = set()
        self.before: dict[int, list[onnx.NodeProto]] = defaultdict(list)
        self.changes: list[str] = []
        self.input_layout = "NCHW"  # the original input's layout: NTC, NCT or NCHW

    def only_consumer(self, tensor: str, op_type: str) -> onnx.NodeProto | None:
        users = self.consumers.get(tensor, [])
        return users[0] if len(users) == 1 and users[0].op_type == op_type else None

    def bypass(self, node: onnx.NodeProto, replacement: str) -> None:
        """Removes `node` and feeds its consumers (and graph outputs) from `replacement` instead."""
        self.removed.add(id(node))
        old = node.output[0]
        for user in self.consumers.get(old, []):
            user.input[:] = [replacement if n == old else n for n in user.input]
            self.consumers[replacement].append(user)
        for out in self.graph.output:
            if out.name == old:
                raise PipelineError(f"cannot remove {node.op_type} '{node.name}': it produces the graph output")

    def set_const(self, name: str, value: NDArray[Any]) -> None:
        self.consts[name] = value

    def apply(self) -> onnx.ModelProto:
        nodes = []
        for node in self.graph.node:
            nodes.extend(self.before.get(id(node), []))
            if id(node) not in self.removed:
                nodes.append(node)
        del self.graph.node[:]
        self.graph.node.extend(nodes)
        del self.graph.initializer[:]
        self.graph.initializer.extend(numpy_helper.from_array(np.asarray(v), k) for k, v in self.consts.items())
        return self.model


def _slice_chomp(g: _Graph, node: onnx.NodeProto) -> int | None:
    """The number of trailing time steps a Slice cuts off axis 2, or None if it is not such a chomp."""
    args: list[Any]
    if len(node.input) >= 3:
        args = [g.consts.get(n) if n else None for n in node.input[1:5]]
    else:  # opset < 10 keeps them as attributes
        args = [_attr(node, "starts"), _attr(node, "ends"), _attr(node, "axes")]
    starts, ends, axes, steps = [*args, None, None, None][:4]
    if starts is None or ends is None:
        return None
    axes = [2] if axes is None else list(np.asarray(axes).ravel())
    if len(axes) != 1 or axes[0] not in (2, -1) or int(np.asarray(starts).ravel()[0]) != 0:
        return None
    if steps is not None and int(np.asarray(steps).ravel()[0]) != 1:
        return None
    end = int(np.asarray(ends).ravel()[0])
    return -end if end < 0 else None


def _rewrite_input(g: _Graph) -> None:
    initializers = {i.name for i in g.graph.initializer}
    inputs = [i for i in g.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise PipelineError(f"the model must have one input, it has {len(inputs)}")
    inp = inputs[0]
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    if len(dims) == 4:
        return
    if len(dims) != 3 or 0 in dims:
        raise PipelineError(f"input '{inp.name}' has shape {dims}; expected a static (1, T, C) or (1, C, T) window")
    transpose = g.only_consumer(inp.name, "Transpose")
    if transpose is not None and list(_attr(transpose, "perm", [])) == [0, 2, 1]:
        batch, time, channels = dims
        g.bypass(transpose, inp.name)
        g.input_layout = "NTC"
        g.changes.append(f"input {inp.name} (1, {time}, {channels}) + Transpose -> (1, {channels}, 1, {time}) NCHW")
    else:
        batch, channels, time = dims
        g.input_layout = "NCT"
        g.changes.append(f"input {inp.name} (1, {channels}, {time}) -> (1, {channels}, 1, {time}) NCHW")
    inp.type.tensor_type.shape.CopyFrom(helper.make_tensor_type_proto(onnx.TensorProto.FLOAT, [batch, channels, 1, time]).tensor_type.shape)


def _rewrite_conv1d(g: _Graph, node: onnx.NodeProto) -> None:
    weight = g.consts.get(node.input[1])
    if weight is None or weight.ndim != 3:
        return
    g.set_const(node.input[1], weight[:, :, None, :])
    begin, end = _lift_spatial_attrs(node)
    slice_node = g.only_consumer(node.output[0], "Slice")
    chomp = _slice_chomp(g, slice_node) if slice_node is not None else None
    if slice_node is not None and chomp is not None:
        right = end - chomp
        if right < 0:
            raise PipelineError(f"Conv '{node.name}' pads {end} but its Slice cuts {chomp}: not a causal chomp")
        g.bypass(slice_node, node.output[0])
        pads_name = f"{node.name or node.output[0]}_causal_pads"
        g.set_const(pads_name, np.array([0, 0, 0, begin, 0, 0, 0, right], dtype=np.int64))
        padded = f"{node.output[0]}_padded_input"
        g.before[id(node)].append(helper.make_node("Pad", [node.input[0], pads_name], [padded], name=f"{node.name}_pad"))
        node.input[0] = padded
        _set_attr(node, "pads", [0, 0, 0, 0])
        g.changes.append(f"Conv1d {node.name} + Slice chomp {chomp} -> Pad left {begin} right {right} + Conv2d (1, k)")
    else:
        _set_attr(node, "pads", [0, begin, 0, end])
        g.changes.append(f"Conv1d {node.name} -> Conv2d (1, k)")


def _lift_spatial_attrs(node: onnx.NodeProto) -> tuple[int, int]:
    """1-D kernel/dilation/stride attributes become (1, x); returns the 1-D pads (begin, end)."""
    if _attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise PipelineError(f"{node.op_type} '{node.name}' uses auto_pad; re-export with explicit padding")
    for name in ("kernel_shape", "dilations", "strides"):
        value = _attr(node, name)
        if value is not None:
            _set_attr(node, name, [1, int(value[0])])
    begin, end = (int(p) for p in _attr(node, "pads", [0, 0]))
    return begin, end


def _rewrite_pool1d(g: _Graph, node: onnx.NodeProto) -> None:
    kernel = _attr(node, "kernel_shape")
    if kernel is None or len(kernel) != 1:
        return
    begin, end = _lift_spatial_attrs(node)
    _set_attr(node, "pads", [0, begin, 0, end])
    g.changes.append(f"{node.op_type} {node.name} 1-D -> (1, k)")


def _rewrite_reduce_mean(g: _Graph, node: onnx.NodeProto) -> None:
    """A mean over the time axis of a former rank-3 tensor, keeping dims, is a GlobalAveragePool now."""
    axes = _attr(node, "axes")
    if axes is None or sorted(int(a) for a in axes) not in ([2], [-1]) or not _attr(node, "keepdims", 1):
        return
    node.op_type = "GlobalAveragePool"
    del node.attribute[:]
    g.changes.append(f"ReduceMean {node.name} over time -> GlobalAveragePool")


def _rewrite_squeeze_gemm(g: _Graph, squeeze: onnx.NodeProto) -> None:
    gemm = g.only_consumer(squeeze.output[0], "Gemm")
    producer = next((n for n in g.graph.node if squeeze.input[0] in n.output), None)
    if gemm is None or producer is None or producer.op_type != "GlobalAveragePool":
        return
    b = g.consts.get(gemm.input[1])
    if b is None or _attr(gemm, "transA", 0):
        return
    weight = (b if _attr(gemm, "transB", 0) else b.T) * float(_attr(gemm, "alpha", 1.0))
    inputs = [squeeze.input[0], f"{gemm.name}_conv_weight"]
    g.set_const(inputs[1], weight[:, :, None, None].astype(np.float32))
    if len(gemm.input) > 2 and gemm.input[2]:
        inputs.append(f"{gemm.name}_conv_bias")
        g.set_const(inputs[2], (g.consts[gemm.input[2]] * float(_attr(gemm, "beta", 1.0))).ravel().astype(np.float32))
    conv = helper.make_node("Conv", inputs, list(gemm.output), name=f"{gemm.name}_as_conv", kernel_shape=[1, 1])
    g.before[id(gemm)].append(conv)
    g.removed.update({id(squeeze), id(gemm)})
    g.changes.append(f"GlobalAveragePool + Squeeze {squeeze.name} + Gemm {gemm.name} -> 1x1 Conv")


@dataclass(frozen=True)
class Imported:
    onnx: bytes
    changes: list[str]
    input_layout: str  # the original's: NTC, NCT or NCHW
    parity: Parity  # original vs rewritten graph, both in ONNX Runtime, on fixed windows


PARITY_WINDOWS = 8


def import_onnx(data: bytes) -> Imported:
    """Rewrites a bring-your-own ONNX and proves the result computes what the original computes."""
    try:
        original = onnx.load_from_string(data)
    except Exception:
        raise PipelineError("the source is not an ONNX model (protobuf parse failed)") from None
    rewritten, changes, layout = rewrite_for_hailo(original)
    new = OnnxModel(rewritten)
    windows = np.random.default_rng(0).standard_normal((PARITY_WINDOWS, *new.input_shape[1:])).astype(np.float32)
    feed = {"NCHW": windows, "NCT": windows[:, :, 0, :], "NTC": windows[:, :, 0, :].transpose(0, 2, 1)}[layout]
    parity = compare(OnnxModel(data).run(feed), new.run(windows))
    return Imported(onnx=rewritten, changes=changes, input_layout=layout, parity=parity)


def rewrite_for_hailo(model: onnx.ModelProto) -> tuple[bytes, list[str], str]:
    """Returns the rewritten graph (constants folded, shapes static), a line per change, the input layout."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 11:
        raise PipelineError(f"opset {opset} is older than 11; re-export with opset_version=11")
    g = _Graph(fold_constants(model))
    _rewrite_input(g)
    for node in list(g.graph.node):
        if node.op_type == "Conv":
            _rewrite_conv1d(g, node)
        elif node.op_type in ("MaxPool", "AveragePool"):
            _rewrite_pool1d(g, node)
        elif node.op_type == "ReduceMean" and g.input_layout != "NCHW":
            _rewrite_reduce_mean(g, node)
        elif node.op_type == "Squeeze":
            _rewrite_squeeze_gemm(g, node)
    try:
        return finalize(g.apply()), g.changes, g.input_layout
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise PipelineError(f"the rewritten graph is not valid ONNX: {str(exc).splitlines()[0]}") from None
