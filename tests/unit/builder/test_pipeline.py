"""`hailo-pipeline build`: one spec -> one content-addressed bundle; failures leave nothing behind."""

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from hailo_pipeline.builder import pipeline
from hailo_pipeline.builder.pipeline import build
from hailo_pipeline.bundle.manifest import validate
from hailo_pipeline.bundle.release import write_bundle
from hailo_pipeline.bundle.verify import verify
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.model.conv2d_fsq import load_conv2d_fsq
from hailo_pipeline.model.examples import tcn_encoder_state
from tests.conftest import build_example

SMALL_CALIBRATION = {"windows": 256, "min_windows": 256}


@pytest.fixture(scope="module")
def example_bundle(tmp_path_factory: pytest.TempPathFactory, sources: dict[str, Path]) -> Path:
    """The bundled example spec with all defaults (1024 synthetic windows), built once."""
    return build_example(tmp_path_factory.mktemp("example"), sources["tcn_encoder"], calibration={})  # {}: the defaults


def test_bundle_layout_manifest_and_checksums(example_bundle: Path) -> None:
    assert re.fullmatch(r"tcn-encoder-1\.0\.0-[0-9a-f]{12}", example_bundle.name)
    assert sorted(p.name for p in example_bundle.iterdir()) == [
        "SHA256SUMS",
        "golden.npz",
        "model.onnx",
        "release.json",
        "report.html",
    ]
    subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=example_bundle, check=True)
    manifest = validate(json.loads((example_bundle / "release.json").read_text()))
    assert manifest["build_id"].startswith(example_bundle.name[-12:])
    assert manifest["input"]["shape"] == [1, 9, 1, 100]
    assert manifest["outputs"]["latent_dim"] == 64
    assert manifest["outputs"]["motif_head"]["count"] == 12
    assert manifest["hef"] is None
    assert manifest["hef_status"].startswith("not compiled: DFC not installed")
    assert manifest["calibration"]["windows"] == 1024
    assert manifest["gates"]["export"]["results"]["latent"]["cosine_min"] >= 0.99999
    preview = manifest["gates"]["int8_preview"]
    assert preview["label"].endswith("a preview, not the Hailo quantizer")
    assert set(preview["results"]) == {"latent", "motif_scores"}
    assert "quantized" not in manifest["gates"], "no DFC, no quantization gate"
    assert manifest["toolchain"]["torch"].startswith("2.13.0")


def test_golden_vectors_hold_raw_windows_and_contract_outputs(example_bundle: Path) -> None:
    with np.load(example_bundle / "golden.npz") as golden:
        assert golden["windows"].shape == (16, 1, 100, 9)
        assert golden["latent"].shape == (16, 64)
        scores = golden["motif_scores"]
    assert scores.shape == (16, 12)
    assert np.all((scores >= 0) & (scores <= 1))
    assert 9 < np.abs(golden_az := np.load(example_bundle / "golden.npz")["windows"][..., 2]).mean() < 11, golden_az.shape


def test_report_shows_the_release_gates_and_plots(example_bundle: Path) -> None:
    page = (example_bundle / "report.html").read_text()
    assert example_bundle.name in page
    assert page.count("<svg") == 6, "export and INT8 parity, INT8 error, per-layer sensitivity, calibration, motif scores"
    assert "Export parity" in page
    assert "The INT8 preview passes as built" in page
    assert "DFC not installed" in page


def test_same_inputs_return_the_existing_bundle_without_work(example_bundle: Path) -> None:
    spec = example_bundle.parent.parent / "spec.yaml"  # written by build_example
    before = {p.name: p.stat().st_mtime_ns for p in example_bundle.iterdir()}
    again = build(spec, example_bundle.parent)
    assert again.cached
    assert again.release_dir == example_bundle
    assert {p.name: p.stat().st_mtime_ns for p in example_bundle.iterdir()} == before


def test_verify_accepts_the_bundle(example_bundle: Path) -> None:
    result = verify(example_bundle)
    assert result["files"] == 4  # everything SHA256SUMS lists
    assert result["golden"]["latent"]["cosine_min"] >= 0.9999


def test_conv2d_fsq_builds_a_two_device_bundle_with_its_host_tail(
    write_spec: Callable[..., Path], sources: dict[str, Path], tmp_path: Path
) -> None:
    """No outputs section: the architecture defines them. The manifest carries the FSQ levels and the classifier;
    golden.npz the device part (bounded) and the host part, which PyTorch's host_tail reproduces."""
    spec = write_spec(calibration=SMALL_CALIBRATION, source={"arch": "conv2d_fsq", "checkpoint": str(sources["conv2d_fsq"])})
    bundle = build(spec, tmp_path / "out").release_dir
    manifest = json.loads((bundle / "release.json").read_text())
    assert manifest["input"]["shape"] == [1, 9, 2, 100]
    outputs = manifest["outputs"]
    assert (outputs["kind"], outputs["shape"], outputs["fsq"]["levels"]) == ("fsq_classifier", [1, 5, 1, 1], [8, 6, 5, 5, 4])
    assert [len(layer["bias"]) for layer in outputs["classifier"]["layers"]] == [256, 10]
    assert manifest["gates"]["export"]["results"]["host_tail"]["max_abs"] < 1e-5
    model = load_conv2d_fsq(sources["conv2d_fsq"])
    with np.load(bundle / "golden.npz") as golden:
        assert set(golden.files) == {"windows", "bounded", "probabilities", "code", "class_index"}
        with torch.no_grad():
            logits = model.host_tail(torch.from_numpy(golden["bounded"]))
        np.testing.assert_allclose(golden["probabilities"], torch.softmax(logits, 1).numpy(), atol=1e-6)
        np.testing.assert_allclose(golden["probabilities"].sum(1), 1, atol=1e-6)
        np.testing.assert_array_equal(golden["class_index"][:, 0], logits.argmax(1).numpy())
        levels = np.array([8, 6, 5, 5, 4])
        assert ((golden["code"] >= -(levels // 2)) & (golden["code"] <= (levels - 1) // 2)).all()
    assert verify(bundle)["device_output"] == "bounded"


def test_a_conv2d_fsq_spec_with_an_outputs_section_is_refused(write_spec: Callable[..., Path], sources: dict[str, Path]) -> None:
    spec = write_spec(source={"arch": "conv2d_fsq", "checkpoint": str(sources["conv2d_fsq"])}, outputs={"latent_dim": 5})
    with pytest.raises(PipelineError, match=r"conv2d_fsq defines its own outputs .* remove outputs from the spec"):
        build(spec, spec.parent / "out")


def _assert_nothing_written(out: Path) -> None:
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"require_hef": True}, "spec requires a HEF (require_hef: true) but it was not compiled: DFC not installed"),
        ({"source": {"arch": "tcn_encoder", "checkpoint": "/nonexistent/model.pt"}}, "source file /nonexistent/model.pt not found"),
        ({"calibration": {"windows": 100}}, "100 calibration windows, fewer than the 1024 required"),
        ({"calibration": SMALL_CALIBRATION, "outputs": {"latent_dim": 32}}, "64-d latents"),
        ({"calibration": SMALL_CALIBRATION, "motif_head": {"kind": "model"}}, "motif_head.kind 'model' needs a model"),
    ],
)
def test_failures_say_why_and_leave_no_bundle(
    write_spec: Callable[..., Path], tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(PipelineError) as err:
        build(write_spec(**overrides), tmp_path / "out")
    assert message in str(err.value)
    _assert_nothing_written(tmp_path / "out")


def test_fixed_shape_onnx_must_match_the_spec_window(write_spec: Callable[..., Path], sources: dict[str, Path], tmp_path: Path) -> None:
    spec = write_spec(
        calibration=SMALL_CALIBRATION,
        source={"onnx": str(sources["tcn_encoder_onnx"])},
        input={"window": 128},
    )
    with pytest.raises(PipelineError, match=r"the model input is \[1, 9, 1, 100\], the spec implies \[1, 9, 1, 128\]"):
        build(spec, tmp_path / "out")
    _assert_nothing_written(tmp_path / "out")


def test_nan_in_real_calibration_fails_the_lint(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    from hailo_pipeline.builder.calibration import synthetic_windows

    windows = synthetic_windows(256, 100, 1, 0)[:, 0]
    windows[7, 3, 2] = np.nan
    np.save(tmp_path / "real.npy", windows)
    spec = write_spec(calibration={"source": str(tmp_path / "real.npy"), "min_windows": 256})
    with pytest.raises(PipelineError, match="calibration lint failed: 1 calibration values are NaN"):
        build(spec, tmp_path / "out")
    _assert_nothing_written(tmp_path / "out")


def test_checkpoint_without_fc_mu_is_refused_with_the_reason(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    state = tcn_encoder_state()
    del state["fc_mu.weight"], state["fc_mu.bias"]
    torch.save(state, tmp_path / "no_head.pt")
    spec = write_spec(calibration=SMALL_CALIBRATION, source={"arch": "tcn_encoder", "checkpoint": str(tmp_path / "no_head.pt")})
    with pytest.raises(PipelineError, match="256-d latents \\(a TCN checkpoint without fc_mu yields its pooled features\\)"):
        build(spec, tmp_path / "out")


def test_an_interrupted_write_leaves_no_temporary_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_bundle(tmp_path, "r-1-abc", {"model.onnx": b"x", "sub/dir.bin": b"y"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "changed",
    [
        "cli/__init__.py",
        "model/parity.py",
        "builder/spec.py",
        "bundle/heads.py",
        "hailo/hef.py",
        "hailo/templates/model_script.alls.j2",
        "serve/host/device_host.py",
    ],
)
def test_a_change_anywhere_in_the_package_changes_the_build_id(
    tmp_path: Path, write_spec: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, changed: str
) -> None:
    copy = tmp_path / "hailo_pipeline"
    shutil.copytree(pipeline.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(pipeline, "PACKAGE_ROOT", copy)
    spec = write_spec()
    before = pipeline.plan(spec, tmp_path / "out").build_id
    assert pipeline.plan(spec, tmp_path / "out").build_id == before, "same code, same build id"
    assert (copy / changed).is_file(), "a file of the package (a new one would change the digest too)"
    with (copy / changed).open("a") as source:
        source.write("\n# a fix\n")
    assert pipeline.plan(spec, tmp_path / "out").build_id != before


def test_the_digest_reads_the_installed_package_whole() -> None:
    root = pipeline.PACKAGE_ROOT
    assert (root / "errors.py").is_file()
    packages = {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}
    assert packages == {"cli", "model", "builder", "bundle", "hailo", "serve", "clients", "fleet"}
