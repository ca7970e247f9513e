"""Deterministic example checkpoints in the formats the training repos save, for the demo and tests.

The weights are seeded random (He-scaled), not trained: they exercise every stage with the real
shapes (the TCN: 3 blocks 64/128/256, kernel 3, fc_mu 256->64; about 442k parameters) and no downloads.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from pathlib import Path

import torch

from hailo_pipeline.model.conv2d_fsq import Conv2dFsq
from hailo_pipeline.model.export import torch_to_onnx

TCN_CHANNELS = (64, 128, 256)
TCN_KERNEL = 3
LATENT_DIM = 64


def _weight_norm_pair(gen: torch.Generator, cout: int, cin: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    v = torch.randn(cout, cin, k, generator=gen)
    g = torch.full((cout, 1, 1), 2.0**0.5) * (1 + 0.1 * torch.randn(cout, 1, 1, generator=gen))
    return g, v


def tcn_encoder_state(seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    """A state_dict laid out as TCN-VAE_models saves its encoder (weight norm, net.0/net.4 aliases)."""
    gen = torch.Generator().manual_seed(seed)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    cin = 9
    for i, cout in enumerate(TCN_CHANNELS):
        for conv, alias, width_in in (("conv1", "net.0", cin), ("conv2", "net.4", cout)):
            g, v = _weight_norm_pair(gen, cout, width_in, TCN_KERNEL)
            bias = 0.01 * torch.randn(cout, generator=gen)
            for name in (conv, alias):
                state[f"network.{i}.{name}.weight_g"] = g.clone()
                state[f"network.{i}.{name}.weight_v"] = v.clone()
                state[f"network.{i}.{name}.bias"] = bias.clone()
        state[f"network.{i}.downsample.weight"] = torch.randn(cout, cin, 1, generator=gen) * (2.0 / cin) ** 0.5
        state[f"network.{i}.downsample.bias"] = 0.01 * torch.randn(cout, generator=gen)
        cin = cout
    state["fc_mu.weight"] = torch.randn(LATENT_DIM, cin, generator=gen) * (1.0 / cin) ** 0.5
    state["fc_mu.bias"] = 0.01 * torch.randn(LATENT_DIM, generator=gen)
    return state


def conv2d_fsq_state(seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    """A state_dict laid out as the Conv2d repo's wrapper saves it (prefix fsq_model.)."""
    torch.manual_seed(seed)
    model = Conv2dFsq()
    for module in model.encoder:
        if isinstance(module, torch.nn.BatchNorm2d):
            assert module.running_mean is not None
            assert module.running_var is not None
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    names = {"0": "conv1", "1": "bn1", "3": "conv2", "4": "bn2", "6": "conv3", "7": "bn3"}
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, tensor in model.state_dict().items():
        parts = key.split(".")
        if parts[0] == "encoder":
            key = f"encoder.{names[parts[1]]}.{parts[2]}"
        elif key.startswith("projection.weight"):
            tensor = tensor[:, :, 0, 0]
        state[f"fsq_model.{key}"] = tensor.clone()
    return state


class _OriginalBlock(torch.nn.Module):
    """TCN-VAE_models' TemporalBlock as trained: Conv1d with symmetric padding, then a Slice chomp."""

    def __init__(self, cin: int, cout: int, dilation: int) -> None:
        super().__init__()
        self.chomp = (TCN_KERNEL - 1) * dilation
        self.conv1 = torch.nn.Conv1d(cin, cout, TCN_KERNEL, padding=self.chomp, dilation=dilation)
        self.conv2 = torch.nn.Conv1d(cout, cout, TCN_KERNEL, padding=self.chomp, dilation=dilation)
        self.downsample = torch.nn.Conv1d(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv1(x)[:, :, : -self.chomp])
        y = torch.relu(self.conv2(y)[:, :, : -self.chomp])
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class OriginalTcnEncoder(torch.nn.Module):
    """The encoder as PyTorch exported it for EdgeInfer: (1, T, 9) -> Transpose -> blocks -> GAP -> Squeeze -> Gemm."""

    def __init__(self, state: OrderedDict[str, torch.Tensor]) -> None:
        super().__init__()
        widths = [9, *TCN_CHANNELS]
        self.blocks = torch.nn.ModuleList(_OriginalBlock(widths[i], widths[i + 1], 2**i) for i in range(len(TCN_CHANNELS)))
        self.pool = torch.nn.AdaptiveAvgPool1d(1)
        self.fc_mu = torch.nn.Linear(TCN_CHANNELS[-1], LATENT_DIM)
        weights: dict[str, torch.Tensor] = {}
        for i in range(len(TCN_CHANNELS)):
            for conv in ("conv1", "conv2"):
                g, v = state[f"network.{i}.{conv}.weight_g"], state[f"network.{i}.{conv}.weight_v"]
                weights[f"blocks.{i}.{conv}.weight"] = g * v / v.flatten(1).norm(dim=1).reshape(g.shape)
                weights[f"blocks.{i}.{conv}.bias"] = state[f"network.{i}.{conv}.bias"]
            weights[f"blocks.{i}.downsample.weight"] = state[f"network.{i}.downsample.weight"]
            weights[f"blocks.{i}.downsample.bias"] = state[f"network.{i}.downsample.bias"]
        weights["fc_mu.weight"], weights["fc_mu.bias"] = state["fc_mu.weight"], state["fc_mu.bias"]
        self.load_state_dict(weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        return self.fc_mu(self.pool(x).squeeze(2))


# Trained TCNs carry a few activation channels far wider than the rest; per-tensor 8-bit activations then lose
# the narrow ones. The outlier example gives the seeded TCN such channels without changing what it computes:
# ReLU commutes with a positive scale, so channel c of a block's conv1 scaled by g and conv2's input c by 1/g
# is the same function (block index -> channels).
OUTLIER_CHANNELS = {0: (3, 17), 1: (5,)}
OUTLIER_GAIN = 1000.0


def _add_outlier_channels(model: OriginalTcnEncoder) -> None:
    with torch.no_grad():
        for index, channels in OUTLIER_CHANNELS.items():
            block = model.blocks[index]
            assert isinstance(block, _OriginalBlock)
            bias = block.conv1.bias
            assert bias is not None
            for c in channels:
                block.conv1.weight[c] *= OUTLIER_GAIN
                bias[c] *= OUTLIER_GAIN
                block.conv2.weight[:, c] /= OUTLIER_GAIN


def original_tcn_onnx(seed: int = 0, window: int = 100, outliers: bool = False) -> bytes:
    """The example TCN exported the way the original was (opset 11; Transpose, Slice, Squeeze, Gemm); with
    `outliers`, with the wide activation channels of a trained one (the INT8 preview fails on it)."""
    model = OriginalTcnEncoder(tcn_encoder_state(seed))
    if outliers:
        _add_outlier_channels(model)
    return torch_to_onnx(model, torch.zeros(1, window, 9), "imu_window", "latent_embeddings")


EXAMPLES = {"tcn_encoder": tcn_encoder_state, "conv2d_fsq": conv2d_fsq_state}


def example_checkpoint(arch: str, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    torch.save(EXAMPLES[arch](seed), buffer)
    return buffer.getvalue()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Writes `data` atomically; returns False when the file already holds exactly these bytes."""
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True
