"""The TCN-VAE encoder (100x9 IMU window -> 64-d latent mu), in the form the Hailo parser accepts.

The trained model (TCN-VAE_models) is Conv1d with symmetric padding and a Slice "chomp". Here the same
function is written Hailo-friendly: input NCHW (1, 9, 1, T), Conv2d with (1, k) kernels and (1, d)
dilation, a left-only zero Pad for causality, GlobalAveragePool, and fc_mu as a 1x1 Conv, so the graph
stays 4-D with no Slice, Squeeze or Reshape. Output: (1, latent, 1, 1).

Checkpoints load as TCN-VAE_models saves them: keys network.{i}.conv1/conv2 with weight-norm
weight_g/weight_v (or parametrizations.weight.original0/1, or a plain weight), the identical
net.0/net.4 aliases, optional downsample, optional fc_mu; tensors saved on CUDA are mapped to the CPU.
Block i has dilation 2**i; channel counts and the kernel size are read from the tensor shapes.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.checkpoints import StateReader, load_state_dict

_BLOCK_KEY = re.compile(r"^network\.(\d+)\.")


class CausalConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d(((kernel - 1) * dilation, 0, 0, 0))
        self.conv = nn.Conv2d(cin, cout, (1, kernel), dilation=(1, dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(self.pad(x)))


class TemporalBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = CausalConv(cin, cout, kernel, dilation)
        self.conv2 = CausalConv(cout, cout, kernel, dilation)
        self.downsample = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.conv2(self.conv1(x)) + residual)


class TcnEncoder(nn.Module):
    def __init__(self, in_channels: int, channels: list[int], kernel: int, latent_dim: int | None) -> None:
        super().__init__()
        widths = [in_channels, *channels]
        self.blocks = nn.Sequential(*(TemporalBlock(widths[i], widths[i + 1], kernel, 2**i) for i in range(len(channels))))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc_mu = nn.Conv2d(channels[-1], latent_dim, 1) if latent_dim else None
        self.output_dim = latent_dim or channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(self.blocks(x))
        return pooled if self.fc_mu is None else self.fc_mu(pooled)


def load_tcn_encoder(path: Path) -> TcnEncoder:
    """Builds the encoder a TCN-VAE_models checkpoint describes and loads its weights."""
    reader = StateReader(load_state_dict(path))
    found = sorted({int(m.group(1)) for k in reader.state if (m := _BLOCK_KEY.match(k))})
    blocks = range(max(found) + 1) if found else range(1)
    weights: dict[str, torch.Tensor] = {}
    channels: list[int] = []
    for i in blocks:
        prefix = f"network.{i}"
        for conv, alias in (("conv1", "net.0"), ("conv2", "net.4")):
            w = reader.conv_weight(f"{prefix}.{conv}")
            alias_w = reader.optional_conv_weight(f"{prefix}.{alias}")
            if alias_w is not None and (alias_w.shape != w.shape or not torch.allclose(alias_w, w)):
                raise PipelineError(f"checkpoint {path}: {prefix}.{alias} should alias {prefix}.{conv} but differs")
            reader.optional(f"{prefix}.{alias}.bias")
            weights[f"blocks.{i}.{conv}.conv.weight"] = w.unsqueeze(2) if w.dim() == 3 else w
            weights[f"blocks.{i}.{conv}.conv.bias"] = reader.get(f"{prefix}.{conv}.bias")
        ds = reader.optional(f"{prefix}.downsample.weight")
        if ds is not None:
            weights[f"blocks.{i}.downsample.weight"] = ds.unsqueeze(2)
            weights[f"blocks.{i}.downsample.bias"] = reader.get(f"{prefix}.downsample.bias")
        channels.append(int(weights[f"blocks.{i}.conv1.conv.weight"].shape[0]))
    fc_w = reader.optional("fc_mu.weight")
    if fc_w is not None:
        weights["fc_mu.weight"] = fc_w[:, :, None, None]
        weights["fc_mu.bias"] = reader.get("fc_mu.bias")
    reader.finish(path, "tcn_encoder")
    first = weights["blocks.0.conv1.conv.weight"]
    model = TcnEncoder(int(first.shape[1]), channels, int(first.shape[-1]), int(fc_w.shape[0]) if fc_w is not None else None)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise PipelineError(f"checkpoint {path} does not fit tcn_encoder: {exc}".splitlines()[0]) from None
    return model.eval()
