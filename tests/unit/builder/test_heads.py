"""The host tails (bundle/heads.py): the FSQ classifier's numpy copy against PyTorch's, and both heads through
the manifest and back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hailo_pipeline.bundle import heads
from hailo_pipeline.bundle.motif_head import fit_prototypes
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.conv2d_fsq import Conv2dFsq


@pytest.fixture(scope="module")
def model() -> Conv2dFsq:
    torch.manual_seed(3)
    return Conv2dFsq().eval()


def _fsq_head(model: Conv2dFsq) -> heads.FsqClassifierHead:
    tail = model.host_tail_weights()
    return heads.FsqClassifierHead(tail.levels, tail.layers)


def test_the_fsq_head_computes_what_pytorch_host_tail_does(model: Conv2dFsq) -> None:
    """Bounded values spread over each level's whole range, so that every code and its scaling are exercised."""
    bounded = (torch.rand(256, 5) * 2 - 1) * (model.half_l.flatten() - 1e-3) - model.offset.flatten()  # as tanh bounds it
    with torch.no_grad():
        probabilities = torch.softmax(model.host_tail(bounded), 1).numpy()
    got = _fsq_head(model).outputs(bounded.numpy())
    np.testing.assert_allclose(got["probabilities"], probabilities, atol=1e-6)
    np.testing.assert_array_equal(got["code"], torch.round(bounded.flatten(1)).numpy())
    np.testing.assert_array_equal(got["class_index"][:, 0], probabilities.argmax(1))
    levels = np.array(model.levels)
    assert ((got["code"] >= -(levels // 2)) & (got["code"] <= (levels - 1) // 2)).all(), "each code within its level"
    for d, level in enumerate(model.levels):
        assert len(np.unique(got["code"][:, d])) == level, f"every one of dimension {d}'s {level} codes occurs"


def test_codes_round_half_to_even_as_torch_does(model: Conv2dFsq) -> None:
    bounded = np.array([[0.5, 1.5, -0.5, 2.5, -1.5]], np.float32)
    np.testing.assert_array_equal(_fsq_head(model).outputs(bounded)["code"], torch.round(torch.from_numpy(bounded)).numpy())


def test_both_heads_survive_the_manifest(model: Conv2dFsq) -> None:
    fsq = _fsq_head(model)
    again = heads.from_manifest(fsq.to_manifest())
    bounded = np.random.default_rng(0).uniform(-3, 3, (8, 5)).astype(np.float32)
    np.testing.assert_allclose(again.outputs(bounded)["probabilities"], fsq.outputs(bounded)["probabilities"], atol=1e-7)
    latents = np.random.default_rng(1).normal(size=(200, 64)).astype(np.float32)
    latent = heads.LatentHead(fit_prototypes(latents, 12, 0))
    restored = heads.from_manifest({"name": "latent", "shape": [1, 64, 1, 1], **latent.to_manifest()})
    np.testing.assert_array_equal(restored.outputs(latents[:4])["motif_scores"], latent.outputs(latents[:4])["motif_scores"])
    legacy = {"latent_dim": 64, "motif_head": latent.motifs.to_manifest()}  # a bundle made before outputs.kind
    assert heads.from_manifest(legacy).kind == heads.LATENT


def test_answers_flatten_in_the_heads_order(model: Conv2dFsq) -> None:
    fsq = _fsq_head(model)
    answers = fsq.outputs(np.zeros((1, 5), np.float32))
    flat = heads.flat(answers, fsq)
    assert [(a.name, a.size, a.datatype) for a in fsq.answers] == [
        ("probabilities", 10, "FP32"),
        ("code", 5, "INT32"),
        ("class_index", 1, "INT64"),
    ]
    np.testing.assert_array_equal(flat[:10], answers["probabilities"][0])
    np.testing.assert_array_equal(flat[10:15], answers["code"][0])
    assert flat[15] == answers["class_index"][0, 0]


def test_a_classifier_that_does_not_chain_is_refused(model: Conv2dFsq) -> None:
    tail = model.host_tail_weights()
    (w1, b1), (w2, b2) = tail.layers
    with pytest.raises(PipelineError, match=r"weight \[10, 255\], bias \[10\] where \(10, 256\) and \(10,\) were expected"):
        heads.FsqClassifierHead(tail.levels, ((w1, b1), (w2[:, :255], b2)))
