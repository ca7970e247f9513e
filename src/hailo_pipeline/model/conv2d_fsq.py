"""The Conv2d-FSQ behaviour model (Conv2d repo, M1.3): input (1, 9, 2, 100) = 9 IMU channels x 2 devices
(phone + collar) x 100 samples.

Encoder Conv 9->32->64->128 with (1, 5) kernels, BatchNorm, ReLU; GlobalAveragePool; a 128->5 projection;
FSQ with levels [8, 6, 5, 5, 4] bounding each code as vector_quantize_pytorch does:
    half_l = (L - 1) * (1 + 1e-3) / 2;  offset = 0.5 if L is even else 0;  shift = atanh(offset / half_l)
    bounded = tanh(z + shift) * half_l - offset
The Hailo parser rejects Round, so the graph the accelerator runs ends at `bounded` (output (1, 5, 1, 1));
rounding (round(bounded) / (L // 2)) and the 5->256->10 classifier belong on the host: `host_tail`.

Checkpoint keys (a `fsq_model.` wrapper prefix is stripped): encoder.conv{1,2,3}.{weight,bias},
encoder.bn{1,2,3}.{weight,bias,running_mean,running_var,num_batches_tracked}, projection.{weight,bias},
classifier.{0,2}.{weight,bias}.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.checkpoints import StateReader, load_state_dict

FSQ_LEVELS = (8, 6, 5, 5, 4)
_WIDTHS = (9, 32, 64, 128)
_EPS = 1e-3


class Conv2dFsq(nn.Module):
    half_l: torch.Tensor
    offset: torch.Tensor
    shift: torch.Tensor
    half_width: torch.Tensor

    def __init__(self, levels: tuple[int, ...] = FSQ_LEVELS, classes: int = 10, hidden: int = 256) -> None:
        super().__init__()
        self.levels = tuple(levels)
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.Conv2d(_WIDTHS[i], _WIDTHS[i + 1], (1, 5), padding=(0, 2)), nn.BatchNorm2d(_WIDTHS[i + 1])]
            layers.append(nn.ReLU())
        self.encoder = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.projection = nn.Conv2d(_WIDTHS[-1], len(levels), 1)
        lv = torch.tensor(levels, dtype=torch.float32)
        half_l = (lv - 1) * (1 + _EPS) / 2
        offset = torch.where(lv % 2 == 0, 0.5, 0.0)
        self.register_buffer("half_l", half_l.reshape(1, -1, 1, 1), persistent=False)
        self.register_buffer("offset", offset.reshape(1, -1, 1, 1), persistent=False)
        self.register_buffer("shift", torch.atanh(offset / half_l).reshape(1, -1, 1, 1), persistent=False)
        self.register_buffer("half_width", (lv // 2).reshape(1, -1), persistent=False)
        self.classifier = nn.Sequential(nn.Linear(len(levels), hidden), nn.ReLU(), nn.Linear(hidden, classes))

    @property
    def output_dim(self) -> int:
        return int(self.projection.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The accelerator part: (N, 9, 2, T) -> bounded FSQ values (N, 5, 1, 1)."""
        z = self.projection(self.pool(self.encoder(x)))
        return torch.tanh(z + self.shift) * self.half_l - self.offset

    def host_tail(self, bounded: torch.Tensor) -> torch.Tensor:
        """What runs after the accelerator: quantize to FSQ codes and classify -> logits (N, classes)."""
        codes = torch.round(bounded.flatten(1)) / self.half_width
        return self.classifier(codes)

    def host_tail_weights(self) -> HostTail:
        linear = [m for m in self.classifier if isinstance(m, nn.Linear)]
        layers = tuple((m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()) for m in linear)
        return HostTail(self.levels, layers)


@dataclass(frozen=True)
class HostTail:
    """What the host needs of the model to run `host_tail` without torch: the FSQ levels and the classifier."""

    levels: tuple[int, ...]
    layers: tuple[tuple[NDArray[np.float32], NDArray[np.float32]], ...]


_ENCODER_KEYS = {"conv1": "0", "bn1": "1", "conv2": "3", "bn2": "4", "conv3": "6", "bn3": "7"}
_BN_FIELDS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def load_conv2d_fsq(path: Path) -> Conv2dFsq:
    reader = StateReader(load_state_dict(path), prefix_to_strip="fsq_model.")
    weights: dict[str, torch.Tensor] = {}
    for name, index in _ENCODER_KEYS.items():
        fields = _BN_FIELDS if name.startswith("bn") else ("weight", "bias")
        for f in fields:
            weights[f"encoder.{index}.{f}"] = reader.get(f"encoder.{name}.{f}")
    proj = reader.get("projection.weight")
    weights["projection.weight"] = proj[:, :, None, None] if proj.dim() == 2 else proj
    weights["projection.bias"] = reader.get("projection.bias")
    for i in ("0", "2"):
        for f in ("weight", "bias"):
            weights[f"classifier.{i}.{f}"] = reader.get(f"classifier.{i}.{f}")
    reader.finish(path, "conv2d_fsq")
    model = Conv2dFsq(classes=int(weights["classifier.2.weight"].shape[0]), hidden=int(weights["classifier.0.weight"].shape[0]))
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise PipelineError(f"checkpoint {path} does not fit conv2d_fsq: {exc}".splitlines()[0]) from None
    return model.eval()
