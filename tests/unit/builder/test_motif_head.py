import json
from pathlib import Path

import numpy as np
import pytest

from hailo_pipeline.bundle.heads import from_manifest
from hailo_pipeline.bundle.manifest import read
from hailo_pipeline.bundle.model_io import Normalization, to_model_input
from hailo_pipeline.bundle.motif_head import PrototypeHead, fit_prototypes
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.onnx_model import OnnxModel
from tests.conftest import SAMPLES


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
    own_prototype = np.linalg.norm(centers[:, None] - head.centroids[None], axis=-1).argmin(axis=1)
    assert (scores.argmax(axis=1) == np.repeat(own_prototype, 40)).all(), "each window scores highest on its own cluster"
    # The temperature: the typical window scores 0.5 on its median motif, more on its own prototype.
    assert np.median(np.median(scores, axis=1)) == pytest.approx(0.5, abs=0.01)
    assert np.median(scores.max(axis=1)) > 0.9
    # Without it (t = 1, older bundles) a member scores about exp(-1/2) on its own and near zero on the others.
    untempered = PrototypeHead(head.centroids, head.scales).scores(points)
    assert 0.3 < np.median(untempered.max(axis=1)) < 0.9
    assert np.median(np.sort(untempered, axis=1)[:, -2]) < 1e-6


def test_an_older_manifest_without_temperature_scores_as_it_did() -> None:
    _, points = _clusters(2)
    head = fit_prototypes(points, 12, seed=0)
    old = {k: v for k, v in head.to_manifest().items() if k != "temperature"}
    assert PrototypeHead.from_manifest(old).temperature == 1.0


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


def _sample_scores(bundle: Path, name: str, gyro_per_rad_s: float = 1.0) -> np.ndarray:
    """The example bundle's motif scores on one of EdgeInfer's sample windows (first 100 rows)."""
    manifest = read(bundle)
    window = np.asarray(json.loads((SAMPLES / name).read_text())["x"][:100], np.float32)
    window[:, 3:6] /= gyro_per_rad_s
    model_input = to_model_input(
        window[None, None], Normalization(tuple(manifest["normalization"]["mean"]), tuple(manifest["normalization"]["std"]))
    )
    return from_manifest(manifest["outputs"]).outputs(OnnxModel((bundle / "model.onnx").read_bytes()).run(model_input))["motif_scores"][0]


def test_edgeinfer_samples_in_the_specs_units_get_informative_scores(bundle: Path) -> None:
    static = _sample_scores(bundle, "static_imu_sample.json")
    realistic = _sample_scores(bundle, "realistic_imu_sample.json", gyro_per_rad_s=180 / np.pi)  # its gyro is in deg/s
    for scores in (static, realistic):
        assert scores.max() > 0.7
        assert np.median(scores) > 0.3, "most motifs say something (untempered, most scores were near 0)"
        assert scores.std() > 0.1, "the 12 scores differ: they say which motifs the window is like"


def test_a_window_in_other_units_than_the_spec_scores_near_zero_on_every_motif(bundle: Path) -> None:
    assert _sample_scores(bundle, "realistic_imu_sample.json").max() < 0.01, "gyro in deg/s: ~57x the spec's rad/s"
