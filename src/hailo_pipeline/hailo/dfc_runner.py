"""The DFC side of the process boundary: runs the Hailo Dataflow Compiler in its own venv for hailo-pipeline.

    <DFC venv>/bin/python <this file> REQUEST.json      -> writes the answer (JSON) where the request says
    <DFC venv>/bin/python <this file> --version         -> prints {"version": "3.33.0"} (null: no DFC there)

The DFC pins its own NumPy and TensorFlow, which cannot share a venv with hailo-pipeline's, so this file is run
by the DFC venv's interpreter by its path: it needs only the standard library, numpy (the DFC's, 1.2x on
Python 3.10+) and hailo_sdk_client; hailo-pipeline need not be installed there. Arrays cross as .npy files;
the HARs, the HEF and the emulator's outputs are written where the request names them.
Documented API (reference hailo-toolchain.md section 1): ClientRunner(hw_arch=...) -> translate_onnx_model(path,
net_name, start_node_names, end_node_names, net_input_shapes) -> get_hn_dict() -> load_model_script(text) ->
optimize(calib NHWC float32) -> infer_context(SDK_QUANTIZED) + infer(ctx, NHWC) -> compile() -> HEF bytes;
save_har() after each stage.
The model script comes rendered with placeholders where it names a layer (LAYER_MARK); they are filled in after
parsing, so that a layer named by its model.onnx node name is written as the Hailo layer that holds it: the HN
layer whose `original_names` list the node (the same field HEF edge layers carry).
The DFC prints to this process's stdout/stderr, real file descriptors the parent reads and tees; its log
records are returned in the answer (they change what a build means: optimization level reduced, ...).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

DISTRIBUTION = "hailo_dataflow_compiler"
LAYER_MARK = "@@layer{}@@"
_MARK = re.compile(r"@@layer(\d+)@@")


class LayerNameError(ValueError):
    """The model script names a layer the parsed network does not have (once)."""


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
            raise LayerNameError(
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


def fill_layer_names(template: str, names: list[str], hn: Mapping[str, Any]) -> str:
    """The model script with each LAYER_MARK replaced by the Hailo layer its name stands for."""
    name = hailo_layer_names(hn)
    return _MARK.sub(lambda m: name(names[int(m.group(1))]), template)


def installed_version() -> str | None:
    """The DFC this interpreter can import, or None."""
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("hailo_sdk_client") is None:
        return None
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        import hailo_sdk_client

        return str(getattr(hailo_sdk_client, "__version__", "unknown"))


class _Records(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"[{record.levelname.lower()}] {record.getMessage()}")


def compile_onnx(request: dict[str, Any]) -> dict[str, Any]:
    """Parse -> optimize (quantize) -> emulate -> compile, as the request says; the answer, ok or not."""
    import numpy as np  # here, not above: `--version` runs in a venv that may have no NumPy (and no DFC)

    records: list[str] = []
    handler = _Records(records)
    logging.getLogger().addHandler(handler)
    stage = "import"
    try:
        from hailo_sdk_client import ClientRunner, InferenceContext

        stage = "parse"
        hars = request["hars"]
        runner = ClientRunner(hw_arch=request["hw_arch"])
        runner.translate_onnx_model(
            request["onnx"],
            request["net_name"],
            start_node_names=request["start_node_names"],
            end_node_names=request["end_node_names"],
            net_input_shapes={request["input_name"]: request["input_shape"]},
        )
        runner.save_har(hars["parsed"])
        script = fill_layer_names(request["model_script"], request["layer_names"], runner.get_hn_dict())
        stage = "optimize"
        runner.load_model_script(script)
        runner.optimize(np.ascontiguousarray(np.load(request["calibration"]), np.float32))
        runner.save_har(hars["optimized"])
        stage = "emulate"
        with runner.infer_context(InferenceContext.SDK_QUANTIZED) as ctx:
            quantized = runner.infer(ctx, np.ascontiguousarray(np.load(request["holdout"]), np.float32))
        np.save(request["quantized"], np.asarray(quantized, np.float32))
        stage = "compile"
        Path(request["hef"]).write_bytes(bytes(runner.compile()))
        runner.save_har(hars["compiled"])
        return {"ok": True, "model_script": script, "records": records}
    except LayerNameError as exc:
        return {"ok": False, "refused": str(exc), "records": records}
    except Exception as exc:  # whatever the DFC raises: the parent explains it by stage
        return {"ok": False, "stage": stage, "error": type(exc).__name__, "message": str(exc), "records": records}
    finally:
        logging.getLogger().removeHandler(handler)


def main(argv: list[str]) -> int:
    if argv == ["--version"]:
        print(json.dumps({"version": installed_version()}))
        return 0
    if len(argv) != 1:
        print("usage: dfc_runner.py REQUEST.json | --version", file=sys.stderr)
        return 2
    request = json.loads(Path(argv[0]).read_text())
    answer = compile_onnx(request)
    sys.stdout.flush()
    sys.stderr.flush()
    Path(request["answer"]).write_text(json.dumps(answer))
    return 0


if __name__ == "__main__":
    # Run by path, this file's folder (hailo-pipeline's hailo package) heads sys.path: drop it, so that its
    # modules cannot shadow the DFC's imports.
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    sys.exit(main(sys.argv[1:]))
