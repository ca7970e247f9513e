"""`verify` trusts nothing: tampered, incomplete or drifted bundles are refused with the reason."""

import io
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hailo_pipeline.bundle.release import sha256_bytes
from hailo_pipeline.bundle.trust import SUMS
from hailo_pipeline.bundle.verify import verify
from hailo_pipeline.errors import PipelineError
from tests.conftest import ExampleBuilds
from tests.support.tamper import rewrite_sums


@pytest.fixture(scope="module")
def built(example_builds: ExampleBuilds) -> Path:
    return example_builds.tcn()


@pytest.fixture
def bundle(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / built.name
    shutil.copytree(built, copy)
    return copy


def test_flipped_byte_in_the_model_is_corruption(bundle: Path) -> None:
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(PipelineError, match=re.escape("model.onnx does not match its sha256 in SHA256SUMS: the bundle is corrupted")):
        verify(bundle)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: (b / SUMS).unlink(), "no SHA256SUMS: not a release bundle"),
        (lambda b: (b / "golden.npz").unlink(), "golden.npz is listed in SHA256SUMS but missing"),
        (lambda b: (b / "extra.bin").write_bytes(b"x"), "files not listed in SHA256SUMS: extra.bin"),
        (lambda b: (b / SUMS).write_text("nonsense\n"), "malformed line"),
    ],
)
def test_incomplete_or_padded_bundles_are_refused(bundle: Path, damage: Callable[[Path], object], message: str) -> None:
    damage(bundle)
    with pytest.raises(PipelineError, match=message):
        verify(bundle)


def test_manifest_schema_is_checked_even_when_sums_match(bundle: Path) -> None:
    manifest = json.loads((bundle / "release.json").read_text())
    del manifest["normalization"]
    manifest["input"].pop("layout")
    (bundle / "release.json").write_text(json.dumps(manifest))
    rewrite_sums(bundle)
    with pytest.raises(PipelineError, match=re.escape("invalid manifest: 'normalization' missing; 'input.layout' missing")):
        verify(bundle)


def test_files_must_match_what_the_manifest_records(bundle: Path) -> None:
    (bundle / "report.html").write_text("<html>edited</html>")
    rewrite_sums(bundle)
    with pytest.raises(PipelineError, match=re.escape("report.html differs from the sha256 the manifest records")):
        verify(bundle)


def test_golden_vectors_that_do_not_reproduce_are_refused(bundle: Path) -> None:
    with np.load(bundle / "golden.npz") as golden:
        arrays = dict(golden)
    arrays["latent"] = arrays["latent"] + 0.5
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (bundle / "golden.npz").write_bytes(buffer.getvalue())
    manifest = json.loads((bundle / "release.json").read_text())
    manifest["files"]["golden.npz"] = sha256_bytes(buffer.getvalue())
    (bundle / "release.json").write_text(json.dumps(manifest))
    rewrite_sums(bundle)
    with pytest.raises(PipelineError, match="golden vectors do not reproduce on onnxruntime: latent: worst cosine 0"):
        verify(bundle)


def test_a_host_tail_that_is_not_the_one_measured_is_refused(fsq_bundle: Path, tmp_path: Path) -> None:
    """The device part reproduces, but the manifest's classifier was edited: the host part does not."""
    copy = tmp_path / fsq_bundle.name
    shutil.copytree(fsq_bundle, copy)
    manifest = json.loads((copy / "release.json").read_text())
    layer = manifest["outputs"]["classifier"]["layers"][-1]
    layer["bias"] = [b + 3.0 * (i == 0) for i, b in enumerate(layer["bias"])]
    (copy / "release.json").write_text(json.dumps(manifest))
    rewrite_sums(copy)
    with pytest.raises(PipelineError, match="golden vectors do not reproduce on onnxruntime: probabilities: worst cosine"):
        verify(copy)
    assert verify(fsq_bundle)["golden"]["bounded"]["max_abs"] < 1e-3


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="is not a directory"):
        verify(tmp_path / "absent")
    with pytest.raises(PipelineError, match="no SHA256SUMS: not a release bundle"):
        verify(tmp_path)
