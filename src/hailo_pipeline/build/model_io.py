"""Between raw IMU windows and the model's tensors: the layout every stage and the sidecar share.

Raw windows (N, H, T, 9) in sensor units -> z-score with the manifest's mean/std -> NCHW (N, 9, H, T).
Model outputs (N, D, 1, 1) or (N, D) -> latents (N, D).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.build.calibration import normalize
from hailo_pipeline.build.spec import Normalization


def to_model_input(raw: NDArray[Any], normalization: Normalization) -> NDArray[np.float32]:
    return np.ascontiguousarray(normalize(raw, normalization).transpose(0, 3, 1, 2))


def to_latents(outputs: NDArray[Any]) -> NDArray[np.float32]:
    return np.asarray(outputs, np.float32).reshape(len(outputs), -1)
