"""Between raw IMU windows and the model's tensors: the layout every stage and the sidecar share.

Raw windows (N, H, T, 9) in sensor units -> z-score with the manifest's mean/std -> NCHW (N, 9, H, T).
Model outputs (N, D, 1, 1) or (N, D) -> latents (N, D).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and std of raw windows, in EdgeInfer's channel order (the spec's and the manifest's)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


def normalize(windows: NDArray[Any], normalization: Normalization) -> NDArray[np.float32]:
    mean = np.asarray(normalization.mean, np.float32)
    std = np.asarray(normalization.std, np.float32)
    return ((windows - mean) / std).astype(np.float32)


def to_model_input(raw: NDArray[Any], normalization: Normalization) -> NDArray[np.float32]:
    return np.ascontiguousarray(normalize(raw, normalization).transpose(0, 3, 1, 2))


def to_latents(outputs: NDArray[Any]) -> NDArray[np.float32]:
    return np.asarray(outputs, np.float32).reshape(len(outputs), -1)
