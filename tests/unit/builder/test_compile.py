"""The compile stage against the API-shaped DFC double: call order, arguments, calibration layout,
model script, the quantization gate, HEF checks, and what a failure leaves behind."""

import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hailo_pipeline.builder.pipeline import build
from hailo_pipeline.bundle.release import sha256_bytes
from hailo_pipeline.bundle.verify import verify
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo.compat import requires_hailort
from hailo_pipeline.hailo.hef import inspect_hef
from tests.conftest import DfcDoubleRun

SMALL = {"windows": 256, "min_windows": 256}


def _names(run: DfcDoubleRun) -> list[str]:
    return [name for name, _ in run.calls()]


def _args(run: DfcDoubleRun, call: str) -> dict[str, object]:
    return next(args for name, args in run.calls() if name == call)


def test_full_compile_call_order_arguments_and_bundle(dfc_run: DfcDoubleRun, write_spec: Callable[..., Path], tmp_path: Path) -> None:
    result = build(write_spec(), tmp_path / "out")
    assert _names(dfc_run) == [
        "ClientRunner",
        "translate_onnx_model",
        "save_har",
        "load_model_script",
        "optimize",
        "save_har",
        "infer_context",
        "infer",
        "compile",
        "save_har",
    ]
    assert _args(dfc_run, "ClientRunner")["hw_arch"] == "hailo8"
    translate = _args(dfc_run, "translate_onnx_model")
    assert translate["net_name"] == "tcn_encoder"
    assert translate["start_node_names"] == ["imu_window"]
    assert translate["end_node_names"] == ["latent"]
    assert translate["net_input_shapes"] == {"imu_window": [1, 9, 1, 100]}
    assert _args(dfc_run, "optimize") == {"shape": [1024, 1, 100, 9], "dtype": "float32"}, "NHWC = HN input minus batch"
    script = _args(dfc_run, "load_model_script")["script"]
    assert "model_optimization_flavor(optimization_level=2, compression_level=0)" in script
    assert "model_optimization_config(calibration, batch_size=8, calibset_size=1024)" in script
    assert "normalization1" not in script

    bundle = result.release_dir
    assert result.hef_status == "compiled: DFC 3.33.0, HAILO8P"
    assert {"model.hef", "model.alls"} <= {p.name for p in bundle.iterdir()}
    assert (bundle / "model.alls").read_text() == script
    info = inspect_hef(bundle / "model.hef")
    assert (info.hw_arch, info.sdk_version) == ("HAILO8P", "3.33.0")
    assert info.network_groups[0].inputs[0].shape == (1, 100, 9)
    manifest = json.loads((bundle / "release.json").read_text())
    hef = manifest["hef"]
    assert hef["requires_hailort"] == "4.23.0"
    assert hef["input"]["limvals"][0] < 0, "z-scored input: the calibrated range holds negative values"
    assert hef["input_clip_share"] == 0
    assert any("Reducing optimization level to 0" in w and "no available GPU" in w for w in hef["dfc_warnings"])
    quantized = manifest["gates"]["quantized"]
    assert quantized["passed"]
    assert quantized["results"]["latent"]["cosine_min"] >= 0.98
    assert quantized["results"]["latent"]["windows"] == 64
    assert "DFC: [warning] Reducing optimization level" in (bundle / "report.html").read_text()
    assert verify(bundle)["files"] == 6
    hars = sorted(p.name for p in (bundle.parent / f"{bundle.name}.har").iterdir())
    assert hars == ["SHA256SUMS", "tcn_encoder_compiled.har", "tcn_encoder_optimized.har", "tcn_encoder_parsed.har"]
    with tarfile.open(bundle.parent / f"{bundle.name}.har" / "tcn_encoder_compiled.har") as har:
        assert json.load(har.extractfile("model.json"))["state"] == "compiled_model"


def test_hailo8l_on_chip_normalization_and_small_calibration(
    dfc_run: DfcDoubleRun, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(
        hw_arch="hailo8l",
        calibration=SMALL,
        dfc={"normalization_on_chip": True, "quantization_overrides": [{"layer": "output_layer1", "precision_mode": "a16_w16"}]},
    )
    bundle = build(spec, tmp_path / "out").release_dir
    assert _args(dfc_run, "ClientRunner")["hw_arch"] == "hailo8l"
    script = _args(dfc_run, "load_model_script")["script"]
    assert script.startswith("normalization1 = normalization([0.12, -0.08, 9.78")
    assert "quantization_param(output_layer1, precision_mode=a16_w16)" in script
    manifest = json.loads((bundle / "release.json").read_text())
    assert manifest["hef"]["hw_arch"] == "HAILO8L"
    assert manifest["hef"]["normalization_on_chip"] is True
    assert manifest["hef"]["input"]["limvals"][1] > 20, "raw units: magnetometer values reach tens of uT"
    assert any("less data than the recommended amount (1024)" in w for w in manifest["hef"]["dfc_warnings"])


def _assert_no_bundle(out: Path) -> None:
    assert not out.exists() or list(out.iterdir()) == []


def test_quantization_gate_failure_stops_the_build_with_figures(
    dfc_run: DfcDoubleRun, write_spec: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dfc_run.set(QUANT_BITS=2)
    with pytest.raises(PipelineError) as err:
        build(write_spec(calibration=SMALL), tmp_path / "out")
    message = str(err.value)
    assert message.startswith("quantization gate failed on 64 held-out windows: latent worst cosine 0.")
    assert "threshold 0.98" in message
    _assert_no_bundle(tmp_path / "out")


def test_input_range_that_clips_normalized_data_is_refused(
    dfc_run: DfcDoubleRun, write_spec: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dfc_run.set(INPUT_RANGE=(0.0, 1.0))  # as the FSQ HEF: calibrated on [0, 1) data
    with pytest.raises(PipelineError, match=r"the HEF input range \[0, 1\] cannot hold the normalized data"):
        build(write_spec(calibration=SMALL, gates={"quantized_cosine_min": 0.0}), tmp_path / "out")
    _assert_no_bundle(tmp_path / "out")


@pytest.mark.parametrize(("stage", "expected"), [("parse", "DFC parse failed"), ("compile", "DFC compile failed (node conv5)")])
def test_dfc_errors_name_stage_node_and_hint(
    dfc_run: DfcDoubleRun, write_spec: Callable[..., Path], tmp_path: Path, stage: str, expected: str
) -> None:
    dfc_run.set(FAIL_AT=stage)
    with pytest.raises(PipelineError) as err:
        build(write_spec(calibration=SMALL), tmp_path / "out")
    assert str(err.value).startswith(expected)
    assert "RuntimeError: Allocation failed" in str(err.value)
    assert "hint: " in str(err.value)
    _assert_no_bundle(tmp_path / "out")


def test_hef_from_another_dfc_version_is_refused(
    dfc_run: DfcDoubleRun, write_spec: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dfc_run.set(__version__="3.32.0")
    with pytest.raises(PipelineError, match=re.escape("made by DFC 3.32.0, but DFC 3.33.0 compiled it")):
        build(write_spec(calibration=SMALL), tmp_path / "out")


def test_require_hef_is_satisfied_when_the_dfc_is_there(dfc_run: DfcDoubleRun, write_spec: Callable[..., Path], tmp_path: Path) -> None:
    result = build(write_spec(calibration=SMALL, require_hef=True), tmp_path / "out")
    assert (result.release_dir / "model.hef").is_file()


def test_without_the_dfc_the_int8_preview_still_reports_risk(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    bundle = build(write_spec(calibration=SMALL), tmp_path / "out").release_dir
    manifest = json.loads((bundle / "release.json").read_text())
    assert manifest["hef"] is None
    preview = manifest["gates"]["int8_preview"]
    assert 0.9 < preview["results"]["latent"]["cosine_min"] <= 1.0
    assert not (bundle.parent / f"{bundle.name}.har").exists()


def test_verify_reads_the_hef_back(dfc_run: DfcDoubleRun, write_spec: Callable[..., Path], tmp_path: Path) -> None:
    from tests.support.tamper import rewrite_sums

    bundle = build(write_spec(calibration=SMALL), tmp_path / "out").release_dir
    manifest = json.loads((bundle / "release.json").read_text())
    manifest["hef"]["hw_arch"] = "HAILO8L"
    (bundle / "release.json").write_text(json.dumps(manifest))
    rewrite_sums(bundle)
    with pytest.raises(PipelineError, match=r"model.hef is HAILO8P / DFC 3.33.0, the manifest says \('HAILO8L', '3.33.0'\)"):
        verify(bundle)
    (bundle / "model.hef").write_bytes(b'{"mock_hef": true}')
    manifest["files"]["model.hef"] = sha256_bytes(b'{"mock_hef": true}')
    (bundle / "release.json").write_text(json.dumps(manifest))
    rewrite_sums(bundle)
    with pytest.raises(PipelineError, match="not a HEF"):
        verify(bundle)


def test_compatibility_table() -> None:
    assert requires_hailort("3.32.0", 2) == "4.22.0"
    assert requires_hailort("3.29.0", 2) == "4.20.0", "a v2 header needs HailoRT 4.20 whatever the DFC"
    assert requires_hailort("3.33.0", 3) == "4.23.0"
    with pytest.raises(ValueError, match=re.escape("DFC 5.1.0 is not in the compatibility table")):
        requires_hailort("5.1.0", 3)


def test_quantized_gate_figures_are_real(dfc_run: DfcDoubleRun, write_spec: Callable[..., Path], tmp_path: Path) -> None:
    """8-bit emulation is close to FP32 but not equal: the gate measured something."""
    bundle = build(write_spec(calibration=SMALL), tmp_path / "out").release_dir
    latent = json.loads((bundle / "release.json").read_text())["gates"]["quantized"]["results"]["latent"]
    assert 0.98 <= latent["cosine_min"] < 0.99999
    assert latent["max_abs"] > 0
    assert np.isfinite(latent["cosine_mean"])


def test_the_dfc_writes_to_its_stdout_descriptor_and_the_line_is_kept(
    dfc_run: DfcDoubleRun, write_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The double, like TensorFlow's native code, asks sys.stdout for its file descriptor and os.write()s to it.
    The runner's stdout is a pipe, so that works; the parent tees the line to its own output and keeps it."""
    bundle = build(write_spec(), tmp_path / "out").release_dir
    zero = "[warning] Running model optimization with zero level of optimization is not recommended for production use"
    assert zero in capsys.readouterr().out
    assert any(w.startswith(zero) for w in json.loads((bundle / "release.json").read_text())["hef"]["dfc_warnings"])


def test_a_dfc_runner_that_dies_without_an_answer_is_an_error(
    dfc_run: DfcDoubleRun, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    dfc_run.set(FAIL_AT="exit")
    with pytest.raises(PipelineError, match=r"the DFC runner \(.*\) exited with status 3 without an answer"):
        build(write_spec(calibration=SMALL), tmp_path / "out")
    _assert_no_bundle(tmp_path / "out")
