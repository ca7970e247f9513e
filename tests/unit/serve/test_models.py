"""One sidecar, two models (issue #17): the TCN for EdgeInfer's /infer, unchanged, and the Conv2d-FSQ classifier
beside it; both over the Open Inference Protocol, with its schema and its errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from hailo_pipeline.serve.device.engine import load_engine
from hailo_pipeline.serve.messages import DeviceAccess
from tests.conftest import SAMPLES, ExampleBuilds
from tests.support.sidecar_server import RunningSidecar, post, running

TCN, FSQ = "tcn-encoder", "conv2d-fsq"


@pytest.fixture(scope="module")
def both(bundle: Path, fsq_bundle: Path) -> Iterator[RunningSidecar]:
    """The FSQ bundle listed first: /infer still goes to the TCN, the one that fits EdgeInfer."""
    with running((fsq_bundle, bundle)) as s:
        yield s


def _fsq_window(seed: int = 0) -> np.ndarray:
    """A raw two-device window (2, 100, 9) around the example's normalization mean."""
    rows = np.asarray(json.loads((SAMPLES / "realistic_imu_sample.json").read_text())["x"], np.float32)
    return np.stack([rows, rows[::-1]]) + np.random.default_rng(seed).normal(0, 0.1, (2, 100, 9)).astype(np.float32)


def _oip(s: RunningSidecar, model: str, body: Any, path: str = "infer") -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(f"{s.url}/v2/models/{model}/{path}", content=content, headers={"Content-Type": "application/json"}, timeout=10)


def _tensor(window: np.ndarray, **changes: Any) -> dict[str, Any]:
    return {"inputs": [{"name": "imu_window", "shape": [1, *window.shape], "datatype": "FP32", "data": window.ravel().tolist()} | changes]}


def test_edgeinfer_gets_the_tcn_and_its_answer_is_unchanged(both: RunningSidecar, bundle: Path) -> None:
    body = (SAMPLES / "realistic_imu_sample.json").read_bytes()
    with running(bundle) as alone:
        expected = post(alone.url, body).json()
    got = post(both.url, body).json()
    assert got == expected
    assert set(got) == {"latent", "motif_scores", "release", "backend", "padded"}


def test_healthz_is_ready_with_every_model_and_says_each_ones_state(both: RunningSidecar, bundle: Path, fsq_bundle: Path) -> None:
    health = httpx.get(f"{both.url}/healthz").json()
    assert health["status"] == "ok"
    assert (health["edgeinfer_model"], health["release"]) == (TCN, bundle.name)
    assert {name: (m["state"], m["release"]) for name, m in health["models"].items()} == {
        FSQ: ("ready", fsq_bundle.name),
        TCN: ("ready", bundle.name),
    }


def test_oip_health_and_metadata(both: RunningSidecar, fsq_bundle: Path) -> None:
    assert httpx.get(f"{both.url}/v2/health/live").status_code == 200
    assert httpx.get(f"{both.url}/v2/health/ready").status_code == 200
    assert httpx.get(f"{both.url}/v2/models/{FSQ}/ready").status_code == 200
    meta = httpx.get(f"{both.url}/v2/models/{FSQ}").json()
    assert meta == {
        "name": FSQ,
        "versions": [fsq_bundle.name],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "imu_window", "datatype": "FP32", "shape": [1, 2, 100, 9]}],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [1, 10]},
            {"name": "code", "datatype": "INT32", "shape": [1, 5]},
            {"name": "class_index", "datatype": "INT64", "shape": [1, 1]},
        ],
    }
    tcn = httpx.get(f"{both.url}/v2/models/{TCN}").json()
    assert tcn["inputs"][0]["shape"] == [1, 1, 100, 9]
    assert [o["name"] for o in tcn["outputs"]] == ["latent", "motif_scores"]
    assert httpx.get(f"{both.url}/v2/models/{FSQ}/versions/{fsq_bundle.name}").status_code == 200


def test_the_golden_windows_over_the_protocol_give_the_golden_answers(both: RunningSidecar, fsq_bundle: Path) -> None:
    """What the build recorded (ONNX Runtime and PyTorch's host tail, proven at export) comes back through /v2."""
    with np.load(fsq_bundle / "golden.npz") as golden:
        windows, probabilities, codes = golden["windows"], golden["probabilities"], golden["code"]
    for window, expected, code in zip(windows[:4], probabilities, codes, strict=False):
        out = {o["name"]: o["data"] for o in _oip(both, FSQ, _tensor(window)).json()["outputs"]}
        np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
        np.testing.assert_array_equal(out["code"], code)


def test_the_fsq_classifier_over_the_protocol_is_the_bundle_model_with_its_host_tail(both: RunningSidecar, fsq_bundle: Path) -> None:
    window = _fsq_window()
    reply = _oip(both, FSQ, _tensor(window) | {"id": "req-7"})
    assert reply.status_code == 200, reply.text
    doc = reply.json()
    assert (doc["model_name"], doc["model_version"], doc["id"]) == (FSQ, fsq_bundle.name, "req-7")
    out = {o["name"]: o for o in doc["outputs"]}
    probabilities, code, index = out["probabilities"]["data"], out["code"]["data"], out["class_index"]["data"]
    assert sum(probabilities) == pytest.approx(1, abs=1e-5)
    assert index == [int(np.argmax(probabilities))]
    assert all(isinstance(c, int) for c in code)
    engine = load_engine(fsq_bundle, "onnxruntime", DeviceAccess(Path("/nonexistent")), 1, 1000)
    expected = engine.head.outputs(engine.device_output(window)[None])
    np.testing.assert_allclose(probabilities, expected["probabilities"][0], atol=1e-6)
    np.testing.assert_array_equal(code, expected["code"][0])


def test_nested_data_and_a_chosen_output(both: RunningSidecar) -> None:
    window = _fsq_window(1)
    tensor = _tensor(window)
    tensor["inputs"][0]["data"] = window[None].tolist()
    reply = _oip(both, FSQ, tensor | {"outputs": [{"name": "class_index"}]})
    assert reply.status_code == 200, reply.text
    assert [o["name"] for o in reply.json()["outputs"]] == ["class_index"]
    flat = {o["name"]: o["data"] for o in _oip(both, FSQ, _tensor(window)).json()["outputs"]}
    assert reply.json()["outputs"][0]["data"] == flat["class_index"]


def test_a_request_without_content_type_is_json(both: RunningSidecar) -> None:
    """tritonclient sends no Content-Type (its binary tensors: test_oip_binary.py)."""
    body = orjson.dumps(_tensor(_fsq_window()))
    plain = httpx.post(f"{both.url}/v2/models/{FSQ}/infer", content=body)
    assert plain.status_code == 200, plain.text
    typed = httpx.post(f"{both.url}/v2/models/{FSQ}/infer", content=body, headers={"Content-Type": "text/plain"})
    assert typed.status_code == 415


def test_server_metadata(both: RunningSidecar) -> None:
    doc = httpx.get(f"{both.url}/v2").json()
    assert (doc["name"], doc["extensions"]) == ("hailo-inference", ["binary_tensor_data"])


def test_the_tcn_over_the_protocol_answers_what_edgeinfer_gets(both: RunningSidecar) -> None:
    rows = json.loads((SAMPLES / "realistic_imu_sample.json").read_text())["x"]
    edgeinfer = post(both.url, orjson.dumps({"x": rows})).json()
    doc = _oip(both, TCN, _tensor(np.asarray(rows, np.float32)[None])).json()
    out = {o["name"]: o["data"] for o in doc["outputs"]}
    np.testing.assert_allclose(out["latent"], edgeinfer["latent"], atol=1e-6)
    np.testing.assert_allclose(out["motif_scores"], edgeinfer["motif_scores"], atol=1e-6)


@pytest.mark.parametrize(
    ("model", "change", "status", "message"),
    [
        ("no-such-model", {}, 404, "no model 'no-such-model' here; the models are ['conv2d-fsq', 'tcn-encoder']"),
        (FSQ, {"shape": [1, 1, 100, 9]}, 400, "input imu_window has shape [1, 2, 100, 9] ([1, H, T, 9]), not [1, 1, 100, 9]"),
        (FSQ, {"datatype": "INT8"}, 400, "input imu_window is FP32, not 'INT8'"),
        (FSQ, {"name": "x"}, 400, "model conv2d-fsq has no input 'x'; its input is 'imu_window'"),
        (FSQ, {"data": [1.0] * 17}, 400, "input imu_window data has 17 values in shape [17]; [1, 2, 100, 9] needs 1800"),
        (FSQ, {"data": ["1.5"] * 1800}, 400, "input imu_window data must be numbers"),
        (FSQ, {"data": [True] * 1800}, 400, "input imu_window data must be numbers"),
        (FSQ, {"data": [[1.0], [1.0, 2.0]]}, 400, "input imu_window data must be numbers"),
        (FSQ, {"data": [1e39] + [0.0] * 1799}, 400, "not finite float32 numbers"),
    ],
)
def test_bad_requests_get_the_protocols_error_and_never_5xx(
    both: RunningSidecar, model: str, change: dict[str, Any], status: int, message: str
) -> None:
    reply = _oip(both, model, _tensor(_fsq_window(), **change))
    assert reply.status_code == status
    assert message in reply.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not valid JSON"),
        ({"inputs": []}, 'body must be {"inputs": [one tensor]}'),
        ({"inputs": [{"name": "imu_window"}]}, 'the input tensor needs "name", "shape", "datatype" and "data"'),
        (
            {"inputs": [{"name": "imu_window", "shape": [1, 2, 100, 9], "datatype": "FP32", "data": [0.0] * 1800}], "outputs": "code"},
            '"outputs" must be a list of {"name": output}',
        ),
        ([1, 2], 'body must be {"inputs": [one tensor]}'),
    ],
)
def test_malformed_bodies_are_400(both: RunningSidecar, body: Any, message: str) -> None:
    reply = _oip(both, FSQ, body)
    assert reply.status_code == 400
    assert message in reply.json()["error"]


def test_an_unknown_output_or_version_is_refused(both: RunningSidecar) -> None:
    reply = _oip(both, FSQ, _tensor(_fsq_window()) | {"outputs": [{"name": "logits"}]})
    assert (reply.status_code, reply.json()["error"]) == (
        400,
        "requested outputs ['logits'] are not among the model's: ['probabilities', 'code', 'class_index']",
    )
    assert _oip(both, FSQ, _tensor(_fsq_window()), path="versions/0.0.1/infer").status_code == 404
    assert httpx.get(f"{both.url}/v2/models/{FSQ}/versions/0.0.1/ready").status_code == 404


def test_metrics_carry_the_model(both: RunningSidecar) -> None:
    _oip(both, FSQ, _tensor(_fsq_window()))
    _oip(both, FSQ, _tensor(_fsq_window(), datatype="INT8"))
    post(both.url, (SAMPLES / "static_imu_sample.json").read_bytes())
    text = httpx.get(f"{both.url}/metrics").text
    assert 'hailo_sidecar_requests_total{model="conv2d-fsq",route="oip",status="200"}' in text
    assert 'hailo_sidecar_requests_total{model="conv2d-fsq",route="oip",status="400"}' in text
    assert 'hailo_sidecar_requests_total{model="tcn-encoder",route="edgeinfer",status="200"}' in text
    assert 'hailo_sidecar_inference_duration_seconds_count{model="conv2d-fsq"}' in text
    assert text.count("hailo_sidecar_model_info{") == 2


def test_only_fsq_served_leaves_infer_not_ready_and_says_why(fsq_bundle: Path) -> None:
    with running(fsq_bundle) as s:
        reply = post(s.url, (SAMPLES / "static_imu_sample.json").read_bytes())
        assert reply.status_code == 503
        assert reply.json()["detail"] == (
            "no served model fits EdgeInfer (conv2d-fsq: its outputs are fsq_classifier "
            "(EdgeInfer reads 64 latent values and 12 motif scores))"
        )
        health = httpx.get(f"{s.url}/healthz")
        assert health.status_code == 503
        assert health.json()["models"][FSQ]["state"] == "ready"
        assert _oip(s, FSQ, _tensor(_fsq_window())).status_code == 200
        assert httpx.get(f"{s.url}/v2/health/ready").status_code == 200, "the protocol's readiness is the models'"


def test_edgeinfer_model_names_one_that_does_not_fit(bundle: Path, fsq_bundle: Path) -> None:
    with running((bundle, fsq_bundle), edgeinfer_model=FSQ) as s:
        health = httpx.get(f"{s.url}/healthz").json()
        assert health["status"] == "unavailable"
        assert "/infer: EDGEINFER_MODEL=conv2d-fsq cannot serve EdgeInfer: its outputs are fsq_classifier" in health["reason"]


def test_two_bundles_of_one_model_are_refused_at_start(bundle: Path, tmp_path: Path) -> None:
    from hailo_pipeline.errors import PipelineError
    from hailo_pipeline.serve.host.models import Sidecar
    from hailo_pipeline.serve.settings import SidecarConfig

    copy = tmp_path / "copy"
    copy.symlink_to(bundle)
    with pytest.raises(PipelineError, match=f"{bundle} and {copy} are both model tcn-encoder: a host serves one release of each model"):
        Sidecar(SidecarConfig(release_dirs=(bundle, copy)))


@pytest.fixture(scope="module")
def compiled_pair(example_builds: ExampleBuilds) -> tuple[Path, Path, Path]:
    """The TCN at 1.0.0 and 1.1.0 and the FSQ classifier, each with a Hailo-8 HEF from the DFC double."""
    return example_builds.tcn("1.0.0", compiled=True), example_builds.tcn("1.1.0", compiled=True), example_builds.fsq(compiled=True)


def test_on_hailort_both_models_are_network_groups_of_one_vdevice(
    calls: Path, compiled_pair: tuple[Path, Path, Path], device: Path
) -> None:
    tcn, _, fsq = compiled_pair
    with running((tcn, fsq), backend="hailo", device=device) as s:
        health = httpx.get(f"{s.url}/healthz").json()
        assert health["status"] == "ok", health["reason"]
        assert {name: m["backend"] for name, m in health["models"].items()} == {TCN: "hailo", FSQ: "hailo"}
        assert post(s.url, (SAMPLES / "static_imu_sample.json").read_bytes()).json()["backend"] == "hailo"
        reply = _oip(s, FSQ, _tensor(_fsq_window()))
        assert reply.status_code == 200, reply.text
        assert sum(reply.json()["outputs"][0]["data"]) == pytest.approx(1, abs=1e-5)
        assert httpx.get(f"{s.url}/v2/models/{FSQ}").json()["platform"] == "hailort_hef"
    log = calls.read_text().split()
    assert log.count("VDevice") == 1, "one VDevice for both models"
    assert log.count("configure") == 2
    assert log[-1] == "VDevice.release"


def test_a_full_device_gives_up_another_models_kept_release_before_anything_served(
    calls: Path,
    compiled_pair: tuple[Path, Path, Path],
    device: Path,
    monkeypatch: pytest.MonkeyPatch,
    example_builds: ExampleBuilds,
) -> None:
    """Three network groups: the TCN's switch keeps its old release beside (3 of 3); the FSQ model's switch then
    finds no room, and the TCN's kept release goes, not a serving one."""
    a, b, fsq = compiled_pair
    fsq_next = example_builds.fsq("1.1.0", compiled=True)
    monkeypatch.setenv("HAILORT_DOUBLE_NETWORK_GROUPS", "3")
    with running((a, fsq), backend="hailo", device=device) as s:
        switch = f"http://127.0.0.1:{s.control_port}/control/switch"
        assert httpx.post(switch, json={"release_dir": str(b)}, timeout=120).json()["gap_seconds"] is None
        moved = httpx.post(switch, json={"release_dir": str(fsq_next)}, timeout=120).json()
        assert (moved["model"], moved["release"], moved["gap_seconds"]) == (FSQ, fsq_next.name, None)
        state = httpx.get(f"http://127.0.0.1:{s.control_port}/control/state").json()
        assert state["models"] == {TCN: {"active": b.name, "previous": None}, FSQ: {"active": fsq_next.name, "previous": fsq.name}}
        assert httpx.get(f"{s.url}/healthz").json()["status"] == "ok"


def test_a_switch_moves_one_model_and_the_other_keeps_answering(compiled_pair: tuple[Path, Path, Path], fsq_bundle: Path) -> None:
    a, b, _ = compiled_pair
    with running((a, fsq_bundle)) as s:
        switched = httpx.post(f"http://127.0.0.1:{s.control_port}/control/switch", json={"release_dir": str(b)}, timeout=120).json()
        assert (switched["model"], switched["release"], switched["previous"]) == (TCN, b.name, a.name)
        state = httpx.get(f"http://127.0.0.1:{s.control_port}/control/state").json()
        assert state["models"] == {TCN: {"active": b.name, "previous": a.name}, FSQ: {"active": fsq_bundle.name, "previous": None}}
        assert post(s.url, (SAMPLES / "static_imu_sample.json").read_bytes()).json()["release"] == b.name
        assert _oip(s, FSQ, _tensor(_fsq_window())).json()["model_version"] == fsq_bundle.name


def test_a_window_that_does_not_fit_the_engine_fails_alone_and_the_device_process_goes_on(fsq_bundle: Path) -> None:
    """A window sized for another release (one a switch replaced meanwhile) is refused by the device process."""
    import socket

    from hailo_pipeline.serve import wire
    from hailo_pipeline.serve.device.process import DeviceProcess

    ours, theirs = socket.socketpair()
    with ours, theirs:
        process = DeviceProcess(theirs, lambda request: None)  # type: ignore[arg-type, return-value]
        process.engines[1] = load_engine(fsq_bundle, "onnxruntime", DeviceAccess(Path("/nonexistent")), 1, 1000)
        process.infer(7, 1, np.zeros((1, 100, 9), np.float32).tobytes())  # a TCN-sized window
        refused = wire.receive(ours)
        process.infer(8, 1, _fsq_window().tobytes())
        answered = wire.receive(ours)
    assert refused is not None
    assert (refused.kind, refused.job) == (wire.Kind.FAILED, 7)
    assert refused.payload.decode() == f"a window of 900 values for {fsq_bundle.name}"
    assert answered is not None
    assert (answered.kind, answered.job) == (wire.Kind.ANSWER, 8)


def test_a_manifest_with_a_broken_host_tail_is_refused_with_what_is_wrong(fsq_bundle: Path) -> None:
    from hailo_pipeline.bundle.manifest import validate
    from hailo_pipeline.errors import PipelineError

    manifest = json.loads((fsq_bundle / "release.json").read_text())
    manifest["outputs"]["fsq"]["levels"] = [8, 1, 5]
    with pytest.raises(PipelineError, match=r"outputs.fsq.levels must be a list of integers >= 2, got \[8, 1, 5\]"):
        validate(manifest)
    manifest["outputs"]["fsq"]["levels"] = [8, 6, 5, 5, 4]
    del manifest["outputs"]["classifier"]["layers"]
    with pytest.raises(PipelineError, match=r"outputs.classifier.layers must be a list of \{weight, bias\}"):
        validate(manifest)
