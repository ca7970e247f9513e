"""Units in the contract (issue #40): what clients send is converted to the model's units before normalizing, on the
host (folded into the mean and std) and where the HEF normalizes on chip (the window scaled); the golden vectors,
in the model's units, still pass; a host's CLIENT_UNITS_FILE overrides the bundle's without a rebuild."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np
import pytest

from hailo_pipeline.bundle import manifest as manifest_io
from hailo_pipeline.clients.probe import probe
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve.device.engine import Engine, load_engine
from hailo_pipeline.serve.messages import DeviceAccess
from tests.conftest import SAMPLES, _install_double, build_example, example_spec_dict
from tests.support.sidecar_server import post, running

DEG = {"gx": "deg/s", "gy": "deg/s", "gz": "deg/s"}
CONTRACT = {"ax": "m/s^2", "ay": "m/s^2", "az": "m/s^2", "gx": "rad/s", "gy": "rad/s", "gz": "rad/s", "mx": "uT", "my": "uT", "mz": "uT"}
CPU = DeviceAccess(Path("/nonexistent"))


@pytest.fixture(scope="module")
def deg_bundle(tmp_path_factory: pytest.TempPathFactory, sources: dict[str, Path]) -> Iterator[Path]:
    """The example encoder with its clients declared to send the gyroscope in deg/s: the example bundle otherwise (same
    checkpoint, normalization, calibration), with a HEF from the DFC double that normalizes on chip."""
    folder = tmp_path_factory.mktemp("deg")
    with pytest.MonkeyPatch.context() as mp:
        for _ in _install_double(mp, "hailo_sdk_client"):
            spec_input = example_spec_dict()["input"] | {"client_units": DEG}
            yield build_example(folder, sources["tcn_encoder"], input=spec_input, dfc={"normalization_on_chip": True})


def _realistic() -> np.ndarray:
    """EdgeInfer's realistic sample as it sends it: the gyroscope in deg/s."""
    return np.asarray(json.loads((SAMPLES / "realistic_imu_sample.json").read_text())["x"], np.float32)


def _by_hand(raw: np.ndarray) -> np.ndarray:
    converted = raw.astype(np.float64)
    converted[:, 3:6] *= np.pi / 180
    return converted.astype(np.float32)


def _answer(engine: Engine, window: np.ndarray) -> np.ndarray:
    assert engine.golden_check().passed, engine.golden_check().detail
    return engine.infer(window[None])


def test_the_manifest_carries_both_units(deg_bundle: Path, bundle: Path) -> None:
    declared = manifest_io.read(deg_bundle)["input"]
    assert declared["units"] == CONTRACT
    assert declared["client_units"] == CONTRACT | DEG
    assert manifest_io.read(bundle)["input"]["client_units"] == declared["units"]
    assert (deg_bundle / "report.html").read_text().count("deg/s") >= 3


def test_declared_deg_s_answers_the_raw_sample_as_a_plain_release_answers_it_converted_by_hand(bundle: Path, deg_bundle: Path) -> None:
    raw = _realistic()
    plain = load_engine(bundle, "onnxruntime", CPU, 1, 1000)
    declared = load_engine(deg_bundle, "onnxruntime", CPU, 1, 1000)
    expected = _answer(plain, _by_hand(raw))
    np.testing.assert_allclose(_answer(declared, raw), expected, rtol=1e-5, atol=1e-6)
    # the declaration matters: the plain release's motif scores for the raw sample are not these
    scores = slice(64, 76)
    assert np.median(expected[scores]) > 1e3 * np.median(plain.infer(raw[None])[scores])


def test_a_hosts_override_wins_over_the_bundles_client_units(bundle: Path, deg_bundle: Path) -> None:
    raw = _realistic()
    overridden = load_engine(bundle, "onnxruntime", CPU, 1, 1000, client_units=DEG)
    assert overridden.info()["client_units"]["gx"] == "deg/s"
    declared = load_engine(deg_bundle, "onnxruntime", CPU, 1, 1000)
    np.testing.assert_allclose(_answer(overridden, raw), _answer(declared, raw), rtol=1e-5, atol=1e-6)
    back = load_engine(deg_bundle, "onnxruntime", CPU, 1, 1000, client_units={"gx": "rad/s", "gy": "rad/s", "gz": "rad/s"})
    np.testing.assert_allclose(_answer(back, _by_hand(raw)), _answer(declared, raw), rtol=1e-5, atol=1e-6)


def test_on_chip_normalization_gets_the_window_in_the_models_units(
    hailort_double: ModuleType, deg_bundle: Path, bundle: Path, device: Path
) -> None:
    on_chip = load_engine(deg_bundle, "hailo", DeviceAccess(device), 1, 1000)
    try:
        assert on_chip.on_chip
        assert on_chip.chip_scale is not None
        assert on_chip.golden_check().passed, on_chip.golden_check().detail  # golden windows sent in deg/s, converted back
        plain = load_engine(bundle, "onnxruntime", CPU, 1, 1000)
        raw = _realistic()
        quantized, expected = on_chip.infer(raw[None])[:64], plain.infer(_by_hand(raw)[None])[:64]
        cosine = float(quantized @ expected / np.linalg.norm(quantized) / np.linalg.norm(expected))
        assert cosine >= on_chip.quantized_threshold  # the double quantizes the output: INT8 against FP32
    finally:
        on_chip.backend.close()


def test_a_unit_of_the_wrong_quantity_is_refused_naming_the_channel_and_the_choices(bundle: Path) -> None:
    with pytest.raises(
        PipelineError,
        match=r"tcn-encoder\.gx: 'g' is acceleration, not angular rate; .* rad/s, deg/s \(the host's CLIENT_UNITS_FILE",
    ):
        load_engine(bundle, "onnxruntime", CPU, 1, 1000, client_units={"gx": "g"})


def test_a_bundle_from_before_units_were_declared_reads_as_the_contracts_defaults() -> None:
    channels = ["ax", "ay", "az", "gx", "gy", "gz", "mx", "my", "mz"]
    old = {"input": {"channels": channels, "units": {"acc": "m/s^2", "gyro": "rad/s", "mag": "uT"}}}
    model, client = manifest_io.input_units(old)
    assert model == client == ("m/s^2",) * 3 + ("rad/s",) * 3 + ("uT",) * 3


def test_the_hosts_file_changes_units_with_a_switch_to_the_serving_release(bundle: Path, deg_bundle: Path, tmp_path: Path) -> None:
    units_file = tmp_path / "client_units.json"
    body = json.dumps({"x": _realistic().tolist()}).encode()
    with running(bundle, client_units_file=units_file) as s:
        control = f"http://127.0.0.1:{s.control_port}/control"
        assert httpx.get(f"{control}/state").json()["client_units"]["tcn-encoder"]["gx"] == "rad/s"
        units_file.write_text(json.dumps({"tcn-encoder": DEG}))
        moved = httpx.post(f"{control}/switch", json={"release_dir": str(bundle)}, timeout=120).json()
        assert (moved["switched"], moved["loaded"], moved["release"]) == (True, True, bundle.name)
        assert httpx.get(f"{control}/state").json()["client_units"]["tcn-encoder"] == CONTRACT | DEG
        declared = load_engine(deg_bundle, "onnxruntime", CPU, 1, 1000).infer(_realistic()[None])
        np.testing.assert_allclose(post(s.url, body).json()["latent"], declared[:64], rtol=1e-5, atol=1e-6)
        assert httpx.get(f"{s.url}/healthz").json()["client_units"]["gx"] == "deg/s"
        assert probe(f"{s.url}/infer", bundle)["windows"] == 16  # the deploy's probe sends its golden windows in deg/s
        assert httpx.post(f"{control}/switch", json={"release_dir": str(bundle)}, timeout=120).json()["switched"] is False
        units_file.write_text(json.dumps({"tcn-encoder": {"gx": "dps"}}))
        refused = httpx.post(f"{control}/switch", json={"release_dir": str(bundle)}, timeout=120)
        assert "gx: unknown unit 'dps'" in refused.text
        units_file.write_text(json.dumps({"tcn-encoder": ["deg/s"], "conv2d-fsq": DEG}))
        refused = httpx.post(f"{control}/switch", json={"release_dir": str(bundle)}, timeout=120)
        assert "model tcn-encoder's entry must be {channel: unit}, got ['deg/s']" in refused.text
        assert "conv2d-fsq" not in refused.text  # the entry at fault, not the whole file
        units_file.write_text("[]")
        refused = httpx.post(f"{control}/switch", json={"release_dir": str(bundle)}, timeout=120)
        assert "must be {model: {channel: unit}}, got a JSON list" in refused.text
        units_file.unlink()  # the bundle's own again: the release kept beside, at once
        back = httpx.post(f"{control}/switch", json={"release_dir": str(bundle)}, timeout=120).json()
        assert (back["switched"], back["loaded"]) == (True, False)


def test_the_deploys_probe_sends_the_golden_windows_in_the_units_in_force(deg_bundle: Path) -> None:
    with running(deg_bundle) as s:
        assert probe(f"{s.url}/infer", deg_bundle)["latent"]["cosine_min"] > 0.99999
