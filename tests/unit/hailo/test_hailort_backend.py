"""The HailoRT adapter against the API-shaped hailo_platform double: backend choice, InferModel calls,
quantized golden check, serving, and releasing the device."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np
import pytest

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.hailo.hailort_backend import HailoBackend, buffer_problem
from hailo_pipeline.serve.device.backends import choose
from hailo_pipeline.serve.device.engine import load_engine
from hailo_pipeline.serve.http.app import Sidecar
from hailo_pipeline.serve.messages import DeviceAccess, LoadRequest
from hailo_pipeline.serve.settings import from_env
from tests.conftest import SAMPLES, ExampleBuilds, build_compiled_example
from tests.support.sidecar_server import post, running


@pytest.fixture(scope="module")
def compiled(example_builds: ExampleBuilds) -> Path:
    return example_builds.tcn(compiled=True)


def test_auto_takes_hailort_only_with_library_device_and_hef(hailort_double: ModuleType, device: Path, tmp_path: Path) -> None:
    assert choose("auto", True, DeviceAccess(device)).backend == "hailo"
    no_device = choose("auto", True, DeviceAccess(tmp_path / "absent"))
    assert no_device.backend == "onnxruntime"
    assert f"{tmp_path / 'absent'} does not exist" in no_device.reason
    assert "the bundle has no model.hef" in choose("auto", False, DeviceAccess(device)).reason
    with pytest.raises(PipelineError, match=re.escape("HAILO_BACKEND=hailo but the bundle has no model.hef")):
        choose("hailo", False, DeviceAccess(device))


def test_without_hailort_auto_says_why(device: Path) -> None:
    choice = choose("auto", True, DeviceAccess(device))
    assert choice.backend == "onnxruntime"
    assert "import hailo_platform failed (ModuleNotFoundError: No module named 'hailo_platform')" in choice.reason


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        # What the real binding raises in a container without the hailort .deb (hailo-rpi5-examples#193).
        (
            "ImportError('libhailort.so.4.23.0: cannot open shared object file: No such file or directory')",
            "ImportError: libhailort.so.4.23.0: cannot open shared object file: No such file or directory",
        ),
        ("OSError('libhailort.so.4.23.0: wrong ELF class: ELFCLASS32')", "OSError: libhailort.so.4.23.0: wrong ELF class: ELFCLASS32"),
    ],
)
def test_a_binding_that_is_found_but_does_not_load_falls_back_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, device: Path, raised: str, reason: str
) -> None:
    package = tmp_path / "site" / "hailo_platform"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"raise {raised}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    choice = choose("auto", True, DeviceAccess(device))
    assert (choice.backend, choice.reason) == ("onnxruntime", f"auto: onnxruntime because import hailo_platform failed ({reason})")
    with pytest.raises(PipelineError, match=re.escape(f"HAILO_BACKEND=hailo but import hailo_platform failed ({reason})")):
        choose("hailo", True, DeviceAccess(device))


def test_infer_model_api_use_and_quantized_goldens(hailort_double: ModuleType, compiled: Path, device: Path) -> None:
    engine = load_engine(compiled, "auto", DeviceAccess(device), 1, 1000)
    assert engine.backend.name == "hailo"
    calls = [name for name, _ in hailort_double.CALLS]
    assert calls[:2] == ["VDevice", "create_infer_model"]
    assert hailort_double.CALLS[0][1]["scheduling_algorithm"] is hailort_double.HailoSchedulingAlgorithm.ROUND_ROBIN
    formats = [args["type"] for name, args in hailort_double.CALLS if name == "set_format_type"]
    assert formats == [hailort_double.FormatType.FLOAT32] * 2
    assert calls.count("configure") == 1
    check = engine.golden_check()
    assert check.passed, check.detail
    assert check.threshold == 0.98, "a quantized device is held to the quantization gate, not FP32 equality"
    assert check.device.cosine_min < 0.99999, "the emulated device really quantizes"
    reference = load_engine(compiled, "onnxruntime", DeviceAccess(device), 1, 1000)
    # Not the "realistic" sample: its gyro is in deg/s (+-20), beyond the calibrated range, and clips on a uint8 input.
    rows = np.asarray(json.loads((SAMPLES / "static_imu_sample.json").read_text())["x"], np.float32)
    hailo_latent, cpu_latent = engine.device_output(rows[None]), reference.device_output(rows[None])
    cosine = float(hailo_latent @ cpu_latent / np.linalg.norm(hailo_latent) / np.linalg.norm(cpu_latent))
    assert cosine > 0.98
    engine.backend.close()
    assert [name for name, _ in hailort_double.CALLS][-2:] == ["shutdown", "VDevice.release"]


def test_sidecar_serves_on_hailort_and_releases_the_device(
    hailort_double: ModuleType, compiled: Path, device: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tmp_path / "calls"  # the device process is forked: its calls come back through this file
    monkeypatch.setenv("HAILORT_DOUBLE_LOG", str(calls))
    with running(compiled, backend="auto", device=device) as s:
        health = httpx.get(f"{s.url}/healthz").json()
        assert health["backend"] == "hailo"
        assert health["versions"] == {"hailort": "4.23.0", "hef_sdk": "3.33.0"}
        answer = post(s.url, (SAMPLES / "static_imu_sample.json").read_bytes()).json()
        assert answer["backend"] == "hailo"
        assert len(answer["latent"]) == 64
        metrics = httpx.get(f"{s.url}/metrics").text
        assert 'backend="hailo",hailort_version="4.23.0",hef_sdk_version="3.33.0"' in metrics
    assert calls.read_text().split()[-2:] == ["shutdown", "VDevice.release"]


def test_on_chip_normalization_feeds_raw_units(hailort_double: ModuleType, sources: dict[str, Path], tmp_path: Path, device: Path) -> None:
    bundle = build_compiled_example(tmp_path, sources["tcn_encoder"], normalization_on_chip=True)
    engine = load_engine(bundle, "hailo", DeviceAccess(device), 1, 1000)
    assert engine.on_chip
    assert engine.golden_check().passed
    engine.backend.close()


def test_through_the_multi_process_service_the_vdevice_is_its_shared_one(
    hailort_double: ModuleType, compiled: Path, device: Path, tmp_path: Path
) -> None:
    service_socket = tmp_path / "hailort_uds.sock"
    service_socket.touch()
    engine = load_engine(compiled, "hailo", DeviceAccess(tmp_path / "no-node", service=True, socket=service_socket), 1, 1000)
    name, params = hailort_double.CALLS[0]
    assert name == "VDevice"
    assert params == {
        "scheduling_algorithm": hailort_double.HailoSchedulingAlgorithm.ROUND_ROBIN,
        "multi_process_service": True,
        "group_id": "SHARED",
    }
    assert engine.golden_check().passed
    engine.backend.close()


def test_without_the_service_socket_auto_says_why_and_hailo_refuses(hailort_double: ModuleType, device: Path, tmp_path: Path) -> None:
    access = DeviceAccess(device, service=True, socket=tmp_path / "hailort_uds.sock")
    expected = f"HAILO_MULTI_PROCESS_SERVICE=true but no hailort_service socket at {tmp_path / 'hailort_uds.sock'}"
    choice = choose("auto", True, access)
    assert choice.backend == "onnxruntime"
    assert expected in choice.reason
    with pytest.raises(PipelineError, match=re.escape(expected)):
        choose("hailo", True, access)


def test_the_service_mode_goes_from_the_environment_to_the_device_process(tmp_path: Path) -> None:
    config = from_env({"HAILO_MULTI_PROCESS_SERVICE": "true", "HAILO_DEVICE": "/dev/hailo1"})
    request = Sidecar(config)._request(tmp_path, "tcn-encoder")
    assert request.access == DeviceAccess(Path("/dev/hailo1"), service=True)
    assert LoadRequest.from_json(request.as_json()) == request
    assert not from_env({"HAILO_MULTI_PROCESS_SERVICE": "false"}).multi_process_service
    with pytest.raises(PipelineError, match=re.escape("HAILO_MULTI_PROCESS_SERVICE='on' is not a valid true/false")):
        from_env({"HAILO_MULTI_PROCESS_SERVICE": "on"})


NO_DEVICE = "libhailort failed with error: 74 (HAILO_OUT_OF_PHYSICAL_DEVICES)"


def test_without_a_device_the_double_raises_what_hailort_raises(hailort_double: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """As HailoRT 4.23.0 built from Hailo's source raised it without a device (hailo-toolchain.md section 11)."""
    monkeypatch.setenv("HAILORT_DOUBLE_DEVICES", "0")
    with pytest.raises(hailort_double.HailoRTException) as raised:
        hailort_double.VDevice()
    error = raised.value
    assert f"{type(error).__module__}.{type(error).__qualname__}" == "hailo_platform.pyhailort.pyhailort.HailoRTException"
    assert [c.__name__ for c in type(error).__mro__] == ["HailoRTException", "Exception", "BaseException", "object"]
    assert str(error) == NO_DEVICE
    assert type(error.__cause__).__module__ == "hailo_platform.pyhailort._pyhailort"
    assert repr(error.__cause__) == "HailoRTStatusException('74')"


def test_hef_errors_are_hailorts_status_codes(hailort_double: ModuleType, compiled: Path, tmp_path: Path) -> None:
    """13 for a missing file, 92 for the old prototype's JSON "HEF" (its version is read before the magic), 91 for a
    truncated HEF (hailo-toolchain.md section 11)."""
    prototype, truncated = tmp_path / "prototype.hef", tmp_path / "truncated.hef"
    prototype.write_text('{\n  "model": "tcn_encoder", "format": "HEF"}\n')
    truncated.write_bytes((compiled / "model.hef").read_bytes()[:200])
    for path, status in ((tmp_path / "absent.hef", "13 (HAILO_OPEN_FILE_FAILURE)"), (prototype, "92 (HAILO_HEF_NOT_SUPPORTED)"),
                         (truncated, "91 (HAILO_HEF_FILE_CORRUPTED)")):  # fmt: skip
        with pytest.raises(hailort_double.HailoRTException, match=re.escape(f"libhailort failed with error: {status}")):
            hailort_double.HEF(str(path))


def test_auto_serves_on_onnxruntime_quoting_hailort_when_it_cannot_open_the_device(
    hailort_double: ModuleType, compiled: Path, device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node is there but HailoRT finds no device (a driver that did not bind it, a device another process holds):
    auto says so in HailoRT's words; hailo refuses with them."""
    monkeypatch.setenv("HAILORT_DOUBLE_DEVICES", "0")
    said = f"HailoRT could not open the device: HailoRTException: {NO_DEVICE} (from HailoRTStatusException('74'))"
    engine = load_engine(compiled, "auto", DeviceAccess(device), 1, 1000)
    assert (engine.backend.name, engine.info()["backend_reason"]) == ("onnxruntime", f"auto: onnxruntime because {said}")
    assert engine.golden_check().passed
    with pytest.raises(PipelineError, match=re.escape(f"HAILO_BACKEND=hailo but {said}")):
        load_engine(compiled, "hailo", DeviceAccess(device), 1, 1000)


def test_a_buffer_of_the_wrong_size_fails_run_as_hailort_does(hailort_double: ModuleType, compiled: Path, device: Path) -> None:
    """HailoRT checks each bound buffer's bytes against the frame size at run() (hailort v4.23.0
    libhailort/src/net_flow/pipeline/infer_model.cpp: HAILO_INVALID_OPERATION, which pyhailort.py turns into
    HailoRTInvalidOperationException)."""
    engine = load_engine(compiled, "hailo", DeviceAccess(device), 1, 1000)
    backend = engine.backend
    assert isinstance(backend, HailoBackend)
    backend.bindings.input().set_buffer(np.zeros(7, np.float32))
    with pytest.raises(hailort_double.HailoRTInvalidOperationException, match=re.escape("Invalid operation. See hailort.log")) as raised:
        backend.configured.run([backend.bindings], 1000)
    assert repr(raised.value.__cause__) == "HailoRTStatusException('6')"
    backend.close()


def test_the_buffer_probe_passes_a_numpy_2_aware_binding_and_says_when_it_cannot_probe(
    hailort_double: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert buffer_problem() is None  # the Python _pyhailort reads NumPy 2's arrays right, as pybind11 >= 2.12 does
    monkeypatch.delattr(hailort_double._pyhailort, "convert_nms_with_byte_mask_buffer_to_detections")
    problem = buffer_problem()
    assert problem is not None
    assert problem.endswith("_pyhailort.py has no convert_nms_with_byte_mask_buffer_to_detections: its buffers cannot be checked")
