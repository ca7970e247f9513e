import numpy as np
import pytest

from hailo_pipeline.build.motif_head import PrototypeHead, fit_prototypes
from hailo_pipeline.errors import PipelineError


def _clusters(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 10, (12, 64))
    points = np.concatenate([c + rng.normal(0, 0.5, (40, 64)) for c in centers])
    return centers, points


def test_prototypes_find_the_clusters_and_score_in_unit_interval() -> None:
    centers, points = _clusters()
    head = fit_prototypes(points, 12, seed=0)
    nearest = np.linalg.norm(centers[:, None] - head.centroids[None], axis=-1).min(axis=1)
    assert nearest.max() < 1.5, "every true cluster has a prototype next to it (clusters are ~110 apart)"
    scores = head.scores(points)
    assert scores.shape == (480, 12)
    assert np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_allclose(head.scores(head.centroids).diagonal(), 1.0)
    # A member scores about exp(-1/2) on its own prototype and near zero on the others.
    own = scores.max(axis=1)
    assert 0.3 < np.median(own) < 0.9
    assert np.median(np.sort(scores, axis=1)[:, -2]) < 1e-6


def test_fit_is_deterministic_and_survives_the_manifest() -> None:
    _, points = _clusters(1)
    a, b = fit_prototypes(points, 12, seed=3), fit_prototypes(points, 12, seed=3)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    restored = PrototypeHead.from_manifest(a.to_manifest())
    np.testing.assert_array_equal(restored.scores(points), a.scores(points))
    assert a.to_manifest()["formula"].startswith("score_k(z) = exp(")


def test_too_few_distinct_latents_is_an_error() -> None:
    with pytest.raises(PipelineError, match="5 distinct calibration latents cannot make 12"):
        fit_prototypes(np.repeat(np.eye(5, 64), 10, axis=0), 12)
