"""Test double of the Hailo Dataflow Compiler's `hailo_sdk_client` (tests only, never shipped).

It has the documented ClientRunner API and behaves like the DFC where the adapter depends on it:
  translate_onnx_model checks net_input_shapes against the ONNX and rejects ops the parser rejects;
  optimize wants NHWC float32 shaped like the HN input minus the batch, and logs the DFC's warnings
  (no GPU here, fewer than 1024 samples); infer(SDK_QUANTIZED) emulates a uint8 device: inputs and
  outputs fake-quantized over their calibrated ranges around an ONNX Runtime FP32 run; compile()
  returns HEF bytes in the real file format, with the calibrated quantization ranges. get_hn_dict() names the
  layers as the parser does (conv1, ew_add1, ..., each with the ONNX nodes it fused in original_names), and
  load_model_script refuses a quantization_param of a layer the network does not have. A model script line
  `normalization1 = normalization([mean], [std])` puts the normalization inside the network, as the DFC does.
Like the DFC's TensorFlow, it writes to the file descriptor behind sys.stdout (the zero-optimization warning),
which fails where sys.stdout is no file.
Knobs for tests: QUANT_BITS, INPUT_RANGE (force limvals), FAIL_AT (stage name, or "exit": the process dies),
_ARCH_IN_HEF, __version__, and
CALLS (call log). hailo-pipeline runs the DFC in a process of its own, so a test sets knobs there as JSON in
$HAILO_SDK_CLIENT_DOUBLE ({"FAIL_AT": "parse"}) and reads the calls, one JSON line each, from the file
$HAILO_SDK_CLIENT_DOUBLE_CALLS (tests/conftest.py: fixture dfc_run).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sys
import tarfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from hef_builder import EdgeSpec, build_hef

from hailo_sdk_client.exposed_definitions import InferenceContext, States
from hailo_sdk_client.model_translator.exceptions import UnsupportedModelError

__version__ = "3.33.0"
__all__ = ["ClientRunner", "InferenceContext"]

CALLS: list[tuple[str, dict[str, Any]]] = []
QUANT_BITS = 8
INPUT_RANGE: tuple[float, float] | None = None
FAIL_AT: str | None = None
_REJECTED = {"Round": "UnsupportedOperationError", "Tile": "UnsupportedTileLayerError", "GatherElements": "UnsupportedOperationError"}
_ARCH_IN_HEF = {"hailo8": "HAILO8P", "hailo8r": "HAILO8R", "hailo8l": "HAILO8L"}
_log = logging.getLogger("hailo_sdk_client.sdk_backend")
for _knob, _value in json.loads(os.environ.get("HAILO_SDK_CLIENT_DOUBLE", "{}")).items():
    # INPUT_RANGE is a tuple; a dict knob (_ARCH_IN_HEF) updates the default.
    globals()[_knob] = tuple(_value) if _knob == "INPUT_RANGE" else {**globals()[_knob], **_value} if isinstance(_value, dict) else _value


def _call(name: str, args: dict[str, Any]) -> None:
    CALLS.append((name, args))
    if os.environ.get("HAILO_SDK_CLIENT_DOUBLE_CALLS"):
        with open(os.environ["HAILO_SDK_CLIENT_DOUBLE_CALLS"], "a") as log:
            log.write(json.dumps([name, args], default=str) + "\n")


def _fake_quant(x: np.ndarray, lo: float, hi: float, bits: int) -> np.ndarray:
    levels = 2**bits - 1
    scale = (hi - lo) / levels if hi > lo else 1.0
    return (np.round((np.clip(x, lo, hi) - lo) / scale) * scale + lo).astype(np.float32)


_HN_KIND = {"Conv": "conv", "Gemm": "fc", "Add": "ew_add", "GlobalAveragePool": "avgpool", "Relu": "relu", "Pad": "pad"}


def _hn_layers(net: str, graph: onnx.GraphProto) -> dict[str, Any]:
    """HN layers the way the parser names them: <net>/<kind><n>, a Relu fused into the layer before it."""
    layers: dict[str, Any] = {f"{net}/input_layer1": {"type": "input_layer", "original_names": [graph.input[0].name]}}
    counts: dict[str, int] = {}
    last = ""
    for node in graph.node:
        if node.op_type == "Relu" and last:
            layers[last]["original_names"].append(node.name)
            continue
        kind = _HN_KIND.get(node.op_type, node.op_type.lower())
        counts[kind] = counts.get(kind, 0) + 1
        last = f"{net}/{kind}{counts[kind]}"
        layers[last] = {"type": kind, "original_names": [node.name]}
    layers[f"{net}/output_layer1"] = {"type": "output_layer", "original_names": [graph.output[0].name]}
    return layers


class ClientRunner:
    def __init__(self, hw_arch: str | None = None, har: str | None = None) -> None:
        _call("ClientRunner", {"hw_arch": hw_arch, "har": har})
        if hw_arch not in _ARCH_IN_HEF:
            raise ValueError(f"hw_arch {hw_arch!r} is not one of {list(_ARCH_IN_HEF)}")
        self.hw_arch = hw_arch
        self.state: States | None = None
        self.model_script = ""

    def _maybe_fail(self, stage: str) -> None:
        if FAIL_AT == "exit":  # the process dies (killed, out of memory) and says nothing more
            os._exit(3)
        if stage == FAIL_AT:
            raise RuntimeError(f"Allocation failed: layer conv5 needs 12 clusters, 8 are free ({stage})")

    def translate_onnx_model(self, model: str, net_name: str, start_node_names=None, end_node_names=None, net_input_shapes=None):
        _call(
            "translate_onnx_model",
            {
                "model": model,
                "net_name": net_name,
                "start_node_names": start_node_names,
                "end_node_names": end_node_names,
                "net_input_shapes": net_input_shapes,
            },
        )
        self._maybe_fail("parse")
        graph = onnx.load(model).graph
        for node in graph.node:
            if node.op_type in _REJECTED:
                raise UnsupportedModelError(f"{_REJECTED[node.op_type]}: {node.op_type} operation is unsupported in node {node.name}")
        ((name, shape),) = net_input_shapes.items()
        onnx_dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
        if graph.input[0].name != name or list(shape) != onnx_dims:
            raise ValueError(f"net_input_shapes {net_input_shapes} does not match the ONNX input {graph.input[0].name} {onnx_dims}")
        self.net_name = net_name
        self.onnx_path = model
        self.hn_input_shape = [-1, shape[2], shape[3], shape[1]]  # NCHW -> HN NHWC
        self.layers = _hn_layers(net_name, graph)
        self.state = States.HAILO_MODEL
        return {"name": net_name}, {}

    def get_hn_dict(self) -> dict[str, Any]:
        return {"name": self.net_name, "layers": self.layers}

    def load_model_script(self, script: str, append: bool = False) -> None:
        _call("load_model_script", {"script": script, "append": append})
        for layer in re.findall(r"quantization_param\(([^,]+),", script):
            if layer not in self.layers and f"{self.net_name}/{layer}" not in self.layers:
                raise ValueError(f"quantization_param: layer {layer} does not exist in the network")
        self.model_script = self.model_script + script if append else script

    def optimize(self, calib_data: np.ndarray, data_type: Any = None) -> None:
        _call("optimize", {"shape": tuple(calib_data.shape), "dtype": str(calib_data.dtype)})
        self._maybe_fail("optimize")
        expected = tuple(self.hn_input_shape[1:])
        if calib_data.dtype != np.float32 or tuple(calib_data.shape[1:]) != expected:
            raise ValueError(
                f"BadInputsShape: Data shape {tuple(calib_data.shape[1:])} for layer {self.net_name}/input_layer1 "
                f"doesn't match network's input shape {expected}"
            )
        level = int(re.search(r"optimization_level=(\d)", self.model_script).group(1))
        if level > 0 and len(calib_data) < 1024:
            _log.warning(
                "Reducing optimization level to 1 (the accuracy won't be optimized and compression won't be used) "
                "because there's less data than the recommended amount (1024), and there's no available GPU"
            )
        elif level > 0:
            _log.warning(
                "Reducing optimization level to 0 (the accuracy won't be optimized and compression won't be used) "
                "because there's no available GPU"
            )
            # Written to the descriptor, as native code does: sys.stdout must be a file.
            os.write(
                sys.stdout.fileno(),
                b"[warning] Running model optimization with zero level of optimization is not recommended for production use "
                b"and might lead to suboptimal accuracy results\n",
            )
        print("[info] Model Optimization is done")
        self.session = ort.InferenceSession(self.onnx_path, providers=["CPUExecutionProvider"])
        on_chip = re.search(r"normalization\(\[([^\]]*)\],\s*\[([^\]]*)\]\)", self.model_script)
        self.normalization = tuple(np.array([float(v) for v in g.split(",")], np.float32) for g in on_chip.groups()) if on_chip else None
        self.input_range = INPUT_RANGE or (float(calib_data.min()), float(calib_data.max()))
        outputs = self._fp32(calib_data[:256])
        self.output_range = (float(outputs.min()), float(outputs.max()))
        self.state = States.QUANTIZED_MODEL

    def _fp32(self, nhwc: np.ndarray) -> np.ndarray:
        if self.normalization is not None:
            nhwc = (nhwc - self.normalization[0]) / self.normalization[1]
        name = self.session.get_inputs()[0].name
        return np.stack([self.session.run(None, {name: np.ascontiguousarray(x.transpose(2, 0, 1)[None])})[0][0] for x in nhwc])

    @contextlib.contextmanager
    def infer_context(self, context: InferenceContext) -> Iterator[InferenceContext]:
        _call("infer_context", {"context": context})
        yield context

    def infer(self, context: InferenceContext, data: np.ndarray, batch_size: int = 1) -> np.ndarray:
        _call("infer", {"context": context, "shape": tuple(data.shape)})
        if context is not InferenceContext.SDK_QUANTIZED or self.state is not States.QUANTIZED_MODEL:
            raise RuntimeError("this double emulates SDK_QUANTIZED after optimize() only")
        out = self._fp32(_fake_quant(data, *self.input_range, QUANT_BITS))
        out = _fake_quant(out, *self.output_range, QUANT_BITS)
        return out.transpose(0, 2, 3, 1)  # HN layout: NHWC

    def compile(self) -> bytes:
        _call("compile", {})
        self._maybe_fail("compile")
        if self.state is not States.QUANTIZED_MODEL:
            raise RuntimeError("compile() needs a quantized model: call optimize() first")
        _, h, w, c = self.hn_input_shape
        features = int(np.prod(self.session.get_outputs()[0].shape[1:]))
        (lo, hi), (olo, ohi) = self.input_range, self.output_range
        scale, oscale = (hi - lo) / 255, (ohi - olo) / 255
        edges = [
            EdgeSpec(f"{self.net_name}/input_layer1", (h, w, c), qp_zp=round(-lo / scale), qp_scale=scale, limvals=(lo, hi)),
            EdgeSpec(
                f"{self.net_name}/output_layer1",
                (1, 1, features),
                output=True,
                fmt="NC",
                qp_zp=round(-olo / oscale),
                qp_scale=oscale,
                limvals=(olo, ohi),
            ),
        ]
        self.state = States.COMPILED_MODEL
        return build_hef(edges, hw_arch=_ARCH_IN_HEF[self.hw_arch], sdk_version=__version__, name=self.net_name)

    def save_har(self, path: str) -> None:
        _call("save_har", {"path": path})
        payload = json.dumps({"net": self.net_name, "state": self.state.value, "script": self.model_script}).encode()
        with tarfile.open(path, "w") as har:
            info = tarfile.TarInfo("model.json")
            info.size = len(payload)
            har.addfile(info, io.BytesIO(payload))
