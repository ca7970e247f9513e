"""Hailo preflight: every node the Hailo parser is known to reject, or that breaks static shapes,
named with its reason before any compile is attempted (facts: reference hailo-toolchain.md section 4).

Severity "error" blocks a build; "warning" is reported and recorded in the manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import onnx
from onnx import helper

# op type -> (severity, reason)
_OP_RULES: dict[str, tuple[str, str]] = {
    "Transpose": ("error", "Transpose is rejected or mis-mapped; export NCHW input (1, C, 1, T) instead"),
    "Squeeze": (
        "error",
        "UnexpectedNodeError (Squeeze); keep the graph 4-D (e.g. a 1x1 Conv instead of Squeeze + Gemm)",
    ),
    "Unsqueeze": ("error", "Unsqueeze changes rank; keep the graph 4-D"),
    "Slice": ("error", "UnsupportedSliceLayerError; for a causal TCN use a left-only Pad instead of a Slice chomp"),
    "Tile": ("error", "Tile is not supported by the Hailo parser"),
    "GatherElements": ("error", "UnsupportedOperationError: GatherElements operation is unsupported"),
    "Gather": ("error", "Gather is not supported on the accelerator; move it to the host"),
    "Round": (
        "error",
        "Round is rejected (seen with FSQ); cut the graph before it (end_node_names) and round on the host",
    ),
    "LSTM": ("error", "UnsupportedLSTMLayerError; use convolutions"),
    "GRU": ("error", "recurrent layers are not supported; use convolutions"),
    "RNN": ("error", "recurrent layers are not supported; use convolutions"),
    "Shape": ("error", "Shape computes sizes at run time; the Hailo graph must be static"),
    "ConstantOfShape": ("error", "a run-time shape computation; fold constants or export with static shapes"),
    "NonZero": ("error", "data-dependent output shape"),
    "Loop": ("error", "control flow is not supported"),
    "If": ("error", "control flow is not supported"),
    "ReduceMean": ("error", "torch.mean(dim) is reported to fail parsing ('Invalid kernel shape'); use AdaptiveAvgPool2d(1)"),
    "Reshape": ("warning", "Reshape often fails to parse (UnsupportedShuffleLayerError); prefer 4-D layers"),
    "Flatten": ("warning", "Flatten is accepted only before a final Dense layer; prefer a 1x1 Conv"),
    "LayerNormalization": ("warning", "LayerNorm is reported to quantize poorly; check the quantized gate"),
    "GroupNormalization": ("warning", "GroupNorm is reported unsupported on Hailo-8"),
    "Softmax": ("warning", "Softmax/attention is best moved to the host"),
}
_OPSET_TESTED = (11, 17)


@dataclass(frozen=True)
class Finding:
    severity: str
    node: str
    op: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def line(self) -> str:
        return f"{self.severity}: {self.op} '{self.node}': {self.reason}"


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def _rank_of(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in infos if v.type.tensor_type.HasField("shape")}
    ranks.update({i.name: len(i.dims) for i in inferred.graph.initializer})
    return ranks


def preflight(model: onnx.ModelProto) -> list[Finding]:
    findings: list[Finding] = []
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if not _OPSET_TESTED[0] <= opset <= _OPSET_TESTED[1]:
        findings.append(Finding("warning", "(model)", "opset", f"opset {opset} is outside 11..17, the range seen working with the DFC"))
    initializers = {i.name for i in graph.initializer}
    for value in [*(i for i in graph.input if i.name not in initializers), *graph.output]:
        dims = _dims(value)
        if any(isinstance(d, str) or d == 0 for d in dims):
            findings.append(
                Finding(
                    "error",
                    value.name,
                    "dynamic shape",
                    f"shape {dims} is not static; export with batch 1 and fixed sizes",
                )
            )
    for value in (i for i in graph.input if i.name not in initializers):
        if len(_dims(value)) != 4:
            findings.append(
                Finding(
                    "error",
                    value.name,
                    "input rank",
                    f"input is rank {len(_dims(value))}; the Hailo parser wants NCHW (1, C, H, T)",
                )
            )
    ranks = _rank_of(model)
    for node in graph.node:
        name = node.name or node.output[0]
        if node.op_type in _OP_RULES:
            severity, reason = _OP_RULES[node.op_type]
            findings.append(Finding(severity, name, node.op_type, reason))
        elif node.op_type == "Conv" and ranks.get(node.input[1]) == 3:
            findings.append(
                Finding(
                    "error",
                    name,
                    "Conv",
                    "1-D Conv (Conv1d) is reported to time out in compile; use Conv2d with a (1, k) kernel",
                )
            )
        elif node.op_type == "Concat" and any(ranks.get(i) == 3 for i in node.input):
            findings.append(Finding("error", name, "Concat", "UnsupportedModelError: 1D form is not supported in ConcatLayer"))
        elif node.op_type.startswith("Random"):
            findings.append(Finding("error", name, node.op_type, "random ops make the graph non-deterministic"))
        if node.op_type in ("Conv", "MaxPool", "AveragePool") and helper.get_attribute_value(
            next((a for a in node.attribute if a.name == "auto_pad"), helper.make_attribute("auto_pad", "NOTSET"))
        ) not in (b"NOTSET", "NOTSET"):
            findings.append(Finding("warning", name, node.op_type, "auto_pad; explicit pads are what the parser is known to handle"))
    return findings


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def as_dicts(findings: list[Finding]) -> list[dict[str, Any]]:
    return [f.as_dict() for f in findings]
