"""The Hailo Dataflow Compiler adapter: hailo-pipeline's side of the process boundary at the DFC.

The DFC ships TensorFlow and pins its own NumPy, so it lives in a venv of its own (build.yml: role hailo_dfc)
and hailo-pipeline never imports `hailo_sdk_client`: it runs hailo/dfc_runner.py with the DFC venv's Python,
hands it files (the ONNX, calibration and holdout as .npy, a JSON request) and reads its JSON answer.
The runner's stdout and stderr are pipes, real file descriptors for the DFC and TensorFlow (which ask
sys.stdout for one); this side tees their lines to its own output and keeps them. The lines that change what a
build means (optimization level reduced for want of a GPU or of calibration data) are returned as warnings.
Which DFC: the venv given by `build --dfc-venv` or HAILO_PIPELINE_DFC_VENV; without either, the interpreter
running hailo-pipeline, if it can import hailo_sdk_client (a DFC installed beside it, as in Hailo's AI SW Suite).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo import dfc_runner

DISTRIBUTION = dfc_runner.DISTRIBUTION
VENV_ENV = "HAILO_PIPELINE_DFC_VENV"
NOT_INSTALLED = "not compiled: DFC not installed"
_MATTERS = re.compile(r"optimization level|less data than the recommended|no available GPU|not recommended for production", re.I)
_NODE = re.compile(r"(?:node|layer)s?[\s:]+[\"'\[]*([\w./:-]+)", re.I)
_RUNNER = Path(dfc_runner.__file__)


@dataclass(frozen=True)
class Dfc:
    """Where the DFC is: the Python that runs the runner, with the environment it needs; version None when that
    Python cannot import hailo_sdk_client (`where` says which Python was asked)."""

    python: str
    env: dict[str, str]
    version: str | None
    where: str

    @property
    def not_installed(self) -> str:
        return f"{NOT_INSTALLED} (hailo_sdk_client is not importable by {self.where})"


def locate(venv: Path | str | None = None) -> Dfc:
    """The DFC in `venv` (default: $HAILO_PIPELINE_DFC_VENV), or beside hailo-pipeline when neither is given. The
    runner itself is asked which DFC it imports, with the environment it will compile in: what this process has
    imported proves nothing about the process that compiles."""
    venv = venv or os.environ.get(VENV_ENV) or None
    if venv is None:
        # This interpreter, with the import path it has (a DFC on sys.path is a DFC it can import).
        python = Path(sys.executable)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        where = f"{python}, as no --dfc-venv or {VENV_ENV} was given"
    else:
        python = Path(venv) / "bin" / "python"
        if not python.is_file():
            raise PipelineError(
                f"DFC venv {venv}: there is no {python}. Point --dfc-venv / {VENV_ENV} at the venv build.yml made for "
                "the DFC (role hailo_dfc, hailo_dfc_venv), or leave it unset to build without a HEF"
            )
        # Nothing of this process's import setup may leak into the DFC's interpreter.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        where = str(python)
    probe = subprocess.run([str(python), str(_RUNNER), "--version"], env=env, capture_output=True, text=True, check=False)
    try:
        version = json.loads(probe.stdout.strip().splitlines()[-1])["version"]
    except (IndexError, ValueError, KeyError, TypeError):
        raise PipelineError(
            f"DFC {venv or 'beside hailo-pipeline'}: {python} could not run hailo-pipeline's DFC runner (exit {probe.returncode}): "
            f"{(probe.stderr.strip().splitlines() or ['no output'])[-1]}"
        ) from None
    return Dfc(str(python), env, version, where)


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


def _explain(stage: str, error: str, text: str) -> str:
    message = (text.strip().splitlines() or [error])[0]
    node = _NODE.search(text)
    if stage == "import":
        hint = "the DFC venv cannot import hailo_sdk_client: reinstall the DFC there (build.yml, role hailo_dfc)"
    elif stage == "parse":
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
    return f"DFC {stage} failed{where}: {error}: {message}; hint: {hint}"


def _tee(pipe: IO[bytes], target: TextIO, lines: list[str]) -> None:
    """Copies the runner's output, line by line, to this process's stream, keeping each line."""
    for raw in iter(pipe.readline, b""):
        line = raw.decode("utf-8", "replace")
        target.write(line)
        target.flush()
        lines.append(line.rstrip("\n"))


def compile_onnx(request: CompileRequest, work_dir: Path, dfc: Dfc) -> CompileOutput:
    """Parse -> optimize (quantize) -> emulate -> compile in the DFC's venv. The HARs of each stage are saved in
    work_dir, with the files that cross the boundary (in work_dir/dfc)."""
    io_dir = work_dir / "dfc"
    io_dir.mkdir(parents=True, exist_ok=True)
    hars = {stage: work_dir / f"{request.net_name}_{stage}.har" for stage in ("parsed", "optimized", "compiled")}
    names: list[str] = []

    def mark(layer: str) -> str:
        names.append(layer)
        return dfc_runner.LAYER_MARK.format(len(names) - 1)

    np.save(io_dir / "calibration.npy", np.ascontiguousarray(request.calibration, np.float32))
    np.save(io_dir / "holdout.npy", np.ascontiguousarray(request.holdout, np.float32))
    files = {name: io_dir / name for name in ("request.json", "answer.json", "model.hef", "quantized.npy")}
    files["answer.json"].unlink(missing_ok=True)
    files["request.json"].write_text(
        json.dumps(
            {
                "onnx": str(request.onnx_path),
                "net_name": request.net_name,
                "hw_arch": request.hw_arch,
                "input_name": request.input_name,
                "input_shape": list(request.input_shape),
                "start_node_names": list(request.start_node_names) or [request.input_name],
                "end_node_names": list(request.end_node_names) or [request.output_name],
                "model_script": request.model_script(mark),
                "layer_names": names,
                "calibration": str(io_dir / "calibration.npy"),
                "holdout": str(io_dir / "holdout.npy"),
                "hars": {stage: str(path) for stage, path in hars.items()},
                "hef": str(files["model.hef"]),
                "quantized": str(files["quantized.npy"]),
                "answer": str(files["answer.json"]),
            }
        )
    )
    lines: list[str] = []
    with subprocess.Popen(
        [dfc.python, str(_RUNNER), str(files["request.json"])],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**dfc.env, "PYTHONUNBUFFERED": "1"},
    ) as runner:
        assert runner.stdout is not None
        assert runner.stderr is not None
        tees = [
            threading.Thread(target=_tee, args=(runner.stdout, sys.stdout, lines), daemon=True),
            threading.Thread(target=_tee, args=(runner.stderr, sys.stderr, lines), daemon=True),
        ]
        for tee in tees:
            tee.start()
        for tee in tees:
            tee.join()
        status = runner.wait()
    if not files["answer.json"].is_file():
        last = next((line for line in reversed(lines) if line.strip()), "no output")
        raise PipelineError(f"the DFC runner ({dfc.python}) exited with status {status} without an answer: {last}")
    answer: dict[str, Any] = json.loads(files["answer.json"].read_text())
    lines += answer["records"]
    if "refused" in answer:
        raise PipelineError(answer["refused"])
    if not answer["ok"]:
        raise PipelineError(_explain(answer["stage"], answer["error"], answer["message"]))
    return CompileOutput(
        hef=files["model.hef"].read_bytes(),
        quantized=np.load(files["quantized.npy"]),
        hars=hars,
        model_script=answer["model_script"],
        warnings=list(dict.fromkeys(line.strip() for line in lines if _MATTERS.search(line))),
    )
