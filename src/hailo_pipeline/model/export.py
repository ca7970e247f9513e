"""PyTorch -> ONNX (opset 11, static batch 1, stable names) for the architectures in this package."""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.architectures import INPUT_HEIGHT
from hailo_pipeline.model.conv2d_fsq import Conv2dFsq, HostTail, load_conv2d_fsq
from hailo_pipeline.model.onnx_fold import finalize
from hailo_pipeline.model.onnx_model import OnnxModel
from hailo_pipeline.model.parity import Parity, compare
from hailo_pipeline.model.tcn_encoder import TcnEncoder, load_tcn_encoder

OPSET = 11
INPUT_NAME = "imu_window"
OUTPUT_NAME = "latent"
PARITY_WINDOWS = 8


@dataclass(frozen=True)
class TailReference:
    """A host tail's weights and what PyTorch computes with them, so the build can prove its numpy copy."""

    tail: HostTail
    device: np.ndarray  # (N, D) device outputs on the parity windows
    probabilities: np.ndarray  # (N, classes): softmax(host_tail(device)) in PyTorch


@dataclass(frozen=True)
class Export:
    onnx: bytes
    parity: Parity  # PyTorch vs ONNX Runtime on fixed windows
    host_tail: TailReference | None = None  # architectures whose answers the host finishes (conv2d_fsq)


def load_model(arch: str, checkpoint: Path) -> TcnEncoder | Conv2dFsq:
    if arch == "tcn_encoder":
        return load_tcn_encoder(checkpoint)
    if arch == "conv2d_fsq":
        return load_conv2d_fsq(checkpoint)
    raise PipelineError(f"unknown architecture {arch!r}")


def torch_to_onnx(model: torch.nn.Module, example: torch.Tensor, input_name: str, output_name: str) -> bytes:
    """The TorchScript exporter at opset 11 (the dynamo exporter cannot emit opset 11), static shapes."""
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation notice
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            model.eval(),
            (example,),
            path,
            opset_version=OPSET,
            dynamo=False,
            input_names=[input_name],
            output_names=[output_name],
            do_constant_folding=True,
        )
        return path.read_bytes()


def export_onnx(arch: str, checkpoint: Path, window: int, channels: int = 9) -> Export:
    """Exports the Hailo-friendly graph and proves it computes what PyTorch computes."""
    model = load_model(arch, checkpoint)
    example = torch.zeros(1, channels, INPUT_HEIGHT[arch], window)
    onnx_bytes = finalize(onnx.load_from_string(torch_to_onnx(model, example, INPUT_NAME, OUTPUT_NAME)))
    windows = np.random.default_rng(0).standard_normal((PARITY_WINDOWS, *example.shape[1:])).astype(np.float32)
    with torch.no_grad():
        expected = np.stack([model(torch.from_numpy(w[None]))[0].numpy() for w in windows])
    actual = OnnxModel(onnx_bytes).run(windows)
    tail = None
    if isinstance(model, Conv2dFsq):
        with torch.no_grad():
            probabilities = torch.softmax(model.host_tail(torch.from_numpy(expected)), dim=1).numpy()
        tail = TailReference(model.host_tail_weights(), expected.reshape(len(expected), -1), probabilities)
    return Export(onnx=onnx_bytes, parity=compare(expected, actual), host_tail=tail)
