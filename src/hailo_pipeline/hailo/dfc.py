"""The Hailo Dataflow Compiler adapter: the only module that imports `hailo_sdk_client`.

Coded against the documented Python API (reference hailo-toolchain.md section 1):
  ClientRunner(hw_arch=...) -> translate_onnx_model(path, net_name, start_node_names, end_node_names,
  net_input_shapes) -> get_hn_dict() -> load_model_script(text) -> optimize(calib NHWC float32) ->
  infer_context(SDK_QUANTIZED) + infer(ctx, NHWC) -> compile() -> HEF bytes; save_har() after each stage.
The model script is rendered after parsing, so that a layer it names by its model.onnx node name can be
written as the Hailo layer that holds it: the HN layer whose `original_names` list the node (the same field
HEF edge layers carry, reference section on the HEF format).
The DFC reports through logging and prints; the lines that change what a build means (optimization level
reduced for want of a GPU or of calibration data) are kept and returned.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.errors import PipelineError

DISTRIBUTION = "hailo_dataflow_compiler"
NOT_INSTALLED = "not compiled: DFC not installed (hailo_sdk_client is not importable)"
_MATTERS = re.compile(r"optimization level|less data than the recommended|no available GPU|not recommended for production", re.I)
_NODE = re.compile(r"(?:node|layer)s?[\s:]+[\"'\[]*([\w./:-]+)", re.I)


def installed_version() -> str | None:
    """The installed DFC's version, or None when `hailo_sdk_client` cannot be imported."""
    if importlib.util.find_spec("hailo_sdk_client") is None:
        return None
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        import hailo_sdk_client

        return str(getattr(hailo_sdk_client, "__version__", "unknown"))


@dataclass(frozen=True)
class CompileRequest:
    onnx_path: Path
    net_name: str
    hw_arch: str  # hailo8 | hailo8l
    model_script: Callable[[Callable[[str], str]], str]  # renders the .alls, given how to name a layer
    input_name: str
    output_name: str
    input_shape: list[int]  # NCHW, as the ONNX graph has it
    calibration: NDArray[np.float32]  # NHWC float32 (N, H, W, C)
    holdout: NDArray[np.float32]  # NHWC windows for the quantized-emulator gate
    start_node_names: tuple[str, ...] = ()
    end_node_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompileOutput:
    hef: bytes
    quantized: NDArray[np.float32]  # emulator (SDK_QUANTIZED) outputs on the holdout windows
    hars: dict[str, Path]
    model_script: str
    warnings: list[str] = field(default_factory=list)


class _Tee(io.TextIOBase):
    """Writes through to the real stream and keeps every line."""

    def __init__(self, target: TextIO, lines: list[str]) -> None:
        self.target, self.lines, self.partial = target, lines, ""

    def write(self, text: str) -> int:
        self.target.write(text)
        *complete, self.partial = (self.partial + text).split("\n")
        self.lines.extend(complete)
        return len(text)

    def flush(self) -> None:
        self.target.flush()


class _Records(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"[{record.levelname.lower()}] {record.getMessage()}")


@contextlib.contextmanager
def _captured(lines: list[str]) -> Iterator[None]:
    handler = _Records(lines)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with contextlib.redirect_stdout(_Tee(sys.stdout, lines)), contextlib.redirect_stderr(_Tee(sys.stderr, lines)):
            yield
    finally:
        root.removeHandler(handler)


def _explain(stage: str, exc: Exception) -> str:
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    node = _NODE.search(str(exc))
    text = f"{type(exc).__name__}: {message}"
    if stage == "parse":
        hint = (
            "run `hailo-pipeline preflight` on model.onnx; cut the graph before that node (dfc.end_node_names) and run the rest on the host"
        )
    elif stage == "optimize" and "shape" in message.lower():
        hint = "calibration must be NHWC float32 shaped like the network input minus the batch"
    elif stage == "compile":
        hint = "the network did not fit the device: try dfc.performance: false, a lower compression level, or a smaller model"
    else:
        hint = "see the DFC output above"
    where = f" (node {node.group(1)})" if node else ""
    return f"DFC {stage} failed{where}: {text}; hint: {hint}"


def hailo_layer_names(hn: Mapping[str, Any]) -> Callable[[str], str]:
    """name -> the Hailo layer to write in the model script: a Hailo layer name as it is (with or without the
    network prefix), a model.onnx node name as the parsed layer whose original_names hold it."""
    layers: Mapping[str, Any] = hn.get("layers", {})
    short = {key.rsplit("/", 1)[-1] for key in layers}

    def name(layer: str) -> str:
        if layer in layers or layer in short:
            return layer
        holders = [key for key, info in layers.items() if layer in info.get("original_names", [])]
        if len(holders) != 1:
            raise PipelineError(
                f"the model script names {layer!r}, which is "
                + (
                    "in several Hailo layers (" + ", ".join(holders) + ")"
                    if holders
                    else "neither a Hailo layer nor in any layer's original_names"
                )
                + f"; the parsed network's layers: {', '.join(sorted(layers))}. Name the Hailo layer in dfc.quantization_overrides"
            )
        return holders[0]

    return name


def compile_onnx(request: CompileRequest, work_dir: Path) -> CompileOutput:
    """Parse -> optimize (quantize) -> emulate -> compile. The HARs of each stage are saved in work_dir."""
    from hailo_sdk_client import ClientRunner, InferenceContext

    lines: list[str] = []
    hars = {stage: work_dir / f"{request.net_name}_{stage}.har" for stage in ("parsed", "optimized", "compiled")}
    stage = "parse"
    result: dict[str, Any] = {}
    with _captured(lines):
        try:
            runner = ClientRunner(hw_arch=request.hw_arch)
            runner.translate_onnx_model(
                str(request.onnx_path),
                request.net_name,
                start_node_names=list(request.start_node_names) or [request.input_name],
                end_node_names=list(request.end_node_names) or [request.output_name],
                net_input_shapes={request.input_name: request.input_shape},
            )
            runner.save_har(str(hars["parsed"]))
            script = request.model_script(hailo_layer_names(runner.get_hn_dict()))
            stage = "optimize"
            runner.load_model_script(script)
            runner.optimize(np.ascontiguousarray(request.calibration, np.float32))
            runner.save_har(str(hars["optimized"]))
            stage = "emulate"
            with runner.infer_context(InferenceContext.SDK_QUANTIZED) as ctx:
                result["quantized"] = np.asarray(runner.infer(ctx, np.ascontiguousarray(request.holdout, np.float32)), np.float32)
            stage = "compile"
            result["hef"] = bytes(runner.compile())
            runner.save_har(str(hars["compiled"]))
        except PipelineError:
            raise
        except Exception as exc:
            raise PipelineError(_explain(stage, exc)) from None
    return CompileOutput(
        hef=result["hef"],
        quantized=result["quantized"],
        hars=hars,
        model_script=script,
        warnings=list(dict.fromkeys(line.strip() for line in lines if _MATTERS.search(line))),
    )
