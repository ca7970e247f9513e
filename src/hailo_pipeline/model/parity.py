"""How closely two sets of model outputs agree: the figures every gate and verification reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Parity:
    cosine_min: float  # worst per-window cosine similarity
    cosine_mean: float
    max_abs: float  # largest absolute difference of any element
    windows: int
    # The compared values, flattened, for plots; not part of the recorded figures.
    reference: NDArray[np.float64] = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))
    candidate: NDArray[np.float64] = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "cosine_min": self.cosine_min,
            "cosine_mean": self.cosine_mean,
            "max_abs": self.max_abs,
            "windows": self.windows,
        }


def compare(reference: NDArray[Any], candidate: NDArray[Any]) -> Parity:
    """Per-window cosine similarity and max abs error of (N, ...) outputs, flattened per window."""
    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    cand = np.asarray(candidate, dtype=np.float64).reshape(len(candidate), -1)
    if ref.shape != cand.shape:
        raise ValueError(f"output shapes differ: {ref.shape} vs {cand.shape}")
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1)
    dots = np.sum(ref * cand, axis=1)
    # Two all-zero vectors agree perfectly; one zero vector against a non-zero one does not.
    cos = np.where(norms > 0, dots / np.where(norms > 0, norms, 1), np.where(np.abs(ref - cand).max(axis=1) == 0, 1, 0))
    return Parity(
        cosine_min=float(cos.min()),
        cosine_mean=float(cos.mean()),
        max_abs=float(np.abs(ref - cand).max()),
        windows=len(ref),
        reference=ref.ravel(),
        candidate=cand.ravel(),
    )
