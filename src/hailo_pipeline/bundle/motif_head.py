"""Motif scores for models without a motif output: 12 prototypes over the calibration latents.

Fit: k-means (k-means++ seeding, the best of RESTARTS seeded runs by inertia, Lloyd iterations) on the latent vectors of the calibration
windows gives centroids c_k; each prototype's scale s_k is the root-mean-square distance of its members
to c_k. Score of latent z for motif k, in (0, 1]:

    score_k(z) = exp(-||z - c_k||^2 / (2 (t s_k)^2))

with one temperature t fitted on the calibration latents: the typical calibration window scores 0.5 on its
median motif (t = sqrt(median over windows of the median over k of d_k^2 / s_k^2, / (2 ln 2))). Without it
(t = 1, bundles made before it) a window scores about 0.6 on its own prototype and little on most others: in
64 dimensions a window lies far from every prototype but its own. The scores are independent per motif (they do
not sum to 1), as EdgeInfer reads each as its own motif's score. A window unlike the calibration data (raw units
other than the spec's, say) is far from every prototype and scores near 0 on all of them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hailo_pipeline.errors import PipelineError

FORMULA = (
    "score_k(z) = exp(-||z - c_k||^2 / (2 * (t * s_k)^2)); c_k = k-means centroid, s_k = RMS member distance, "
    "t = temperature: the typical calibration window scores 0.5 on its median motif"
)
_MAX_ITER = 100
RESTARTS = 10


@dataclass(frozen=True)
class PrototypeHead:
    centroids: NDArray[np.float32]  # (k, latent_dim)
    scales: NDArray[np.float32]  # (k,)
    temperature: float = 1.0

    def scaled_distances(self, latents: NDArray[Any]) -> NDArray[np.float64]:
        """d_k^2 / s_k^2 of each latent to each prototype, (N, k)."""
        z = np.asarray(latents, np.float64).reshape(len(latents), -1)
        d2 = ((z[:, None, :] - self.centroids[None].astype(np.float64)) ** 2).sum(-1)
        return np.asarray(d2 / self.scales.astype(np.float64) ** 2)

    def scores(self, latents: NDArray[Any]) -> NDArray[np.float32]:
        return np.exp(-self.scaled_distances(latents) / (2 * self.temperature**2)).astype(np.float32)

    def to_manifest(self) -> dict[str, Any]:
        return {
            "kind": "prototypes",
            "count": len(self.centroids),
            "formula": FORMULA,
            "centroids": self.centroids.tolist(),
            "scales": self.scales.tolist(),
            "temperature": self.temperature,
        }

    @classmethod
    def from_manifest(cls, data: dict[str, Any]) -> PrototypeHead:
        return cls(np.asarray(data["centroids"], np.float32), np.asarray(data["scales"], np.float32), float(data.get("temperature", 1.0)))


def _squared_distances(z: NDArray[np.float64], centroids: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.maximum(
        (z**2).sum(1)[:, None] - 2 * z @ centroids.T + (centroids**2).sum(1)[None, :],
        0.0,
    )


def _lloyd(z: NDArray[np.float64], count: int, rng: np.random.Generator) -> tuple[NDArray[np.float64], float]:
    """One k-means run from k-means++ seeds: the centroids and their inertia."""
    centroids = [z[rng.integers(len(z))]]
    for _ in range(1, count):
        d2 = _squared_distances(z, np.array(centroids)).min(1)
        centroids.append(z[rng.choice(len(z), p=d2 / d2.sum())])
    c = np.array(centroids)
    for _ in range(_MAX_ITER):
        labels = _squared_distances(z, c).argmin(1)
        new = np.array([z[labels == k].mean(0) if np.any(labels == k) else c[k] for k in range(count)])
        if np.allclose(new, c):
            break
        c = new
    return c, float(_squared_distances(z, c).min(1).sum())


def fit_prototypes(latents: NDArray[Any], count: int = 12, seed: int = 0) -> PrototypeHead:
    z = np.asarray(latents, np.float64).reshape(len(latents), -1)
    distinct = len(np.unique(z.round(6), axis=0))
    if distinct < count:
        raise PipelineError(f"{distinct} distinct calibration latents cannot make {count} motif prototypes; use more, varied windows")
    rng = np.random.default_rng(seed)
    c, _ = min((_lloyd(z, count, rng) for _ in range(RESTARTS)), key=lambda run: run[1])
    distances = _squared_distances(z, c)
    labels = distances.argmin(1)
    d2 = distances[np.arange(len(z)), labels]
    scales = np.array([np.sqrt(d2[labels == k].mean()) if np.any(labels == k) else 1.0 for k in range(count)])
    head = PrototypeHead(c.astype(np.float32), np.maximum(scales, 1e-6).astype(np.float32))
    typical = float(np.median(np.median(head.scaled_distances(z), axis=1)))
    return dataclasses.replace(head, temperature=float(np.sqrt(typical / (2 * np.log(2)))))
