"""The set of models changes in the running sidecar (issue #39): a switch to a model not served adds it (loaded
beside, golden-checked, then routable); a removal takes it out of routing, lets its windows in flight be answered,
then unloads it; /infer keeps answering throughout and is bound again when its model goes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from hailo_pipeline.errors import PipelineError
from hailo_pipeline.serve.settings import DEFAULT_RELEASE_DIR, from_env
from tests.conftest import CLI, SAMPLES, ExampleBuilds
from tests.support.faults import Faults
from tests.support.sidecar_server import RunningSidecar, post, running
from tests.support.tamper import break_goldens, rewrite_sums
from tests.unit.serve.test_switch import _more, traffic

TCN, FSQ, TWIN = "tcn-encoder", "conv2d-fsq", "tcn-twin"
BODY = (SAMPLES / "static_imu_sample.json").read_bytes()
NOT_EDGEINFERS = "its outputs are fsq_classifier (EdgeInfer reads 64 latent values and 12 motif scores)"


def control(s: RunningSidecar, route: str, doc: dict[str, str] | None = None) -> httpx.Response:
    base = f"http://127.0.0.1:{s.control_port}/control"
    return httpx.get(f"{base}/state") if doc is None else httpx.post(f"{base}/{route}", json=doc, timeout=120)


def _fsq_body() -> bytes:
    rows = np.asarray(json.loads((SAMPLES / "realistic_imu_sample.json").read_text())["x"], np.float32)
    window = np.stack([rows, rows[::-1]])
    return orjson.dumps(
        {"inputs": [{"name": "imu_window", "shape": [1, *window.shape], "datatype": "FP32", "data": window.ravel().tolist()}]}
    )


def _fsq(s: RunningSidecar) -> httpx.Response:
    return httpx.post(f"{s.url}/v2/models/{FSQ}/infer", content=_fsq_body(), headers={"Content-Type": "application/json"}, timeout=10)


def _model_infos(s: RunningSidecar) -> list[str]:
    return [line for line in httpx.get(f"{s.url}/metrics").text.splitlines() if line.startswith("hailo_sidecar_model_info{")]


@pytest.fixture(scope="module")
def twin(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example TCN bundle as another model, tcn-twin: a second model that fits EdgeInfer."""
    copy = tmp_path_factory.mktemp("twin") / f"{TWIN}-{bundle.name}"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "release.json").read_text())
    (copy / "release.json").write_text(json.dumps(manifest | {"name": TWIN}))
    rewrite_sums(copy)
    return copy


def test_a_switch_to_a_model_not_served_adds_it_while_infer_keeps_answering(bundle: Path, fsq_bundle: Path) -> None:
    with running(bundle) as s, traffic(s.url) as answers:
        assert _fsq(s).status_code == 404
        _more(answers, 10)
        added = control(s, "switch", {"release_dir": str(fsq_bundle)}).json()
        assert (added["model"], added["release"], added["previous"], added["added"], added["loaded"]) == (
            FSQ,
            fsq_bundle.name,
            None,
            True,
            True,
        )
        assert _fsq(s).json()["model_version"] == fsq_bundle.name
        _more(answers, 10)
        health = httpx.get(f"{s.url}/healthz").json()
        assert (health["status"], health["edgeinfer_model"]) == ("ok", TCN)
        assert {name: m["release"] for name, m in health["models"].items()} == {TCN: bundle.name, FSQ: fsq_bundle.name}
        assert len(_model_infos(s)) == 2
        again = control(s, "switch", {"release_dir": str(fsq_bundle)}).json()
        assert (again["switched"], again["added"]) == (False, False)
    assert {status for status, _ in answers} == {200}, "EdgeInfer's model answered every call during the add"


def test_a_removal_answers_the_windows_in_flight_before_it_unloads(bundle: Path, fsq_bundle: Path, tmp_path: Path) -> None:
    """Two windows wait on a slow device and a third is still sending its body when the removal comes: all three
    get the model's real answer, and the removal returns only after them."""
    faults = Faults(tmp_path)
    with running((bundle, fsq_bundle), faults.opener(), answer_deadline_ms=1000, infer_timeout_ms=5000) as s:
        expected = _fsq(s).json()["outputs"]
        faults.set("sleep:0.2")
        body = _fsq_body()
        answered: dict[str, tuple[httpx.Response, float]] = {}

        def call(name: str, content: Any) -> None:
            reply = httpx.post(f"{s.url}/v2/models/{FSQ}/infer", content=content, headers={"Content-Type": "application/json"}, timeout=10)
            answered[name] = reply, time.monotonic()

        def slowly() -> Iterator[bytes]:
            yield body[:100]
            time.sleep(0.4)  # the removal comes meanwhile; the route already holds the release
            yield body[100:]

        callers = [threading.Thread(target=call, args=("sending", slowly()))]
        callers += [threading.Thread(target=call, args=(f"queued-{i}", body)) for i in range(2)]
        callers[0].start()
        time.sleep(0.1)
        for caller in callers[1:]:
            caller.start()
        deadline = time.monotonic() + 5
        while s.sidecar.host.depth() < 2:
            assert time.monotonic() < deadline, "the windows did not reach the device"
            time.sleep(0.005)
        removed = control(s, "remove", {"model": FSQ}).json()
        removed_at = time.monotonic()
        for caller in callers:
            caller.join(10)
        assert (removed["model"], removed["removed"], removed["release"]) == (FSQ, True, fsq_bundle.name)
        for name, (reply, at) in answered.items():
            assert reply.status_code == 200, (name, reply.text)
            assert reply.json()["outputs"] == expected, name
            assert at <= removed_at, f"{name} was answered after the removal returned"
        assert sorted(answered) == ["queued-0", "queued-1", "sending"]
        faults.set("ok")
        assert _fsq(s).status_code == 404
        assert control(s, "state").json()["loaded"] == [str(bundle.resolve())]
        assert [TCN in line for line in _model_infos(s)] == [True], "the removed model is no longer shown as served"
        assert post(s.url, BODY).status_code == 200


def test_removing_a_model_not_served_is_a_no_op(bundle: Path, fsq_bundle: Path) -> None:
    with running((bundle, fsq_bundle)) as s:
        assert control(s, "remove", {"model": FSQ}).json()["removed"]
        again = control(s, "remove", {"model": FSQ})
        assert (again.status_code, again.json()) == (200, {"model": FSQ, "removed": False, "release": None, "seconds": 0.0})
        assert control(s, "remove", {"model": "nope"}).json()["removed"] is False
        bad = control(s, "remove", {"release_dir": str(fsq_bundle)})
        assert (bad.status_code, bad.json()["detail"]) == (400, 'body must be {"model": "<name>"}')
        assert httpx.post(f"{s.url}/control/remove", json={"model": TCN}).status_code == 404, "control answers on loopback only"


def test_edgeinfers_model_is_not_removed_while_no_other_can_take_infer(bundle: Path, fsq_bundle: Path, twin: Path) -> None:
    with running((bundle, fsq_bundle)) as s:
        refused = control(s, "remove", {"model": TCN})
        assert (refused.status_code, refused.json()["error"]) == (409, "not_removed")
        assert refused.json()["detail"] == (
            f"{TCN} answers EdgeInfer's /infer and no other model can take it (without it, no served model fits EdgeInfer "
            f"({FSQ}: {NOT_EDGEINFERS})): add a model that fits EdgeInfer first"
        )
        assert set(refused.json()["serving"]) == {TCN, FSQ}
        assert post(s.url, BODY).json()["release"] == bundle.name
    with running((bundle, twin), edgeinfer_model=TCN) as s:
        refused = control(s, "remove", {"model": TCN})
        assert refused.json()["detail"] == (
            f"{TCN} answers EdgeInfer's /infer and no other model can take it (without it, EDGEINFER_MODEL={TCN} is none of "
            f"the served models ({TWIN})): set EDGEINFER_MODEL to another served model first"
        )


def test_infer_moves_to_the_next_model_that_fits_when_its_own_is_removed(bundle: Path, twin: Path) -> None:
    with running((bundle, twin)) as s, traffic(s.url) as answers:
        _more(answers, 10)
        assert control(s, "remove", {"model": TCN}).json()["removed"]
        _more(answers, 10)
        health = httpx.get(f"{s.url}/healthz").json()
        assert (health["status"], health["edgeinfer_model"]) == ("ok", TWIN)
        assert 'hailo_sidecar_requests_total{model="tcn-twin",route="edgeinfer",status="200"}' in httpx.get(f"{s.url}/metrics").text
    assert {status for status, _ in answers} == {200}


def test_the_model_edgeinfer_model_names_is_bound_when_it_is_added(bundle: Path, twin: Path) -> None:
    with running(bundle, edgeinfer_model=TWIN) as s:
        waiting = post(s.url, BODY)
        assert (waiting.status_code, waiting.json()["detail"]) == (503, f"EDGEINFER_MODEL={TWIN} is none of the served models ({TCN})")
        assert control(s, "switch", {"release_dir": str(twin)}).json()["added"]
        health = httpx.get(f"{s.url}/healthz").json()
        assert (health["status"], health["edgeinfer_model"], health["release"]) == ("ok", TWIN, bundle.name)  # the same release text
        assert post(s.url, BODY).status_code == 200


@pytest.mark.parametrize("damage", ["goldens", "checksum"])
def test_a_failed_add_leaves_everything_as_it_was(bundle: Path, twin: Path, tmp_path: Path, damage: str) -> None:
    bad = tmp_path / twin.name
    shutil.copytree(twin, bad)
    if damage == "goldens":
        break_goldens(bad)
    else:
        (bad / "model.onnx").write_bytes(b"\x00" + (bad / "model.onnx").read_bytes()[1:])
    with running(bundle) as s:
        before = control(s, "state").json()
        refused = control(s, "switch", {"release_dir": str(bad)})
        assert (refused.status_code, refused.json()["error"]) == (409, "not_switched")
        assert ("refusing to serve" if damage == "goldens" else "model.onnx does not match its sha256") in refused.json()["detail"]
        assert control(s, "state").json() == before
        assert httpx.get(f"{s.url}/v2/models/{TWIN}").status_code == 404
        assert len(_model_infos(s)) == 1
        assert httpx.get(f"{s.url}/healthz").json()["status"] == "ok"


def test_models_dir_serves_its_current_links_sorted_by_name(bundle: Path, fsq_bundle: Path, tmp_path: Path) -> None:
    (tmp_path / f"current-{TCN}").symlink_to(bundle)
    (tmp_path / f"current-{FSQ}").symlink_to(fsq_bundle)
    (tmp_path / "releases").mkdir()  # what else a host keeps there is not served
    with running((), models_dir=tmp_path) as s:
        health = httpx.get(f"{s.url}/healthz").json()
        assert (health["status"], health["edgeinfer_model"], list(health["models"])) == ("ok", TCN, [FSQ, TCN])
        assert post(s.url, BODY).json()["release"] == bundle.name


def test_an_empty_models_dir_starts_with_no_model_and_one_is_added(bundle: Path, tmp_path: Path) -> None:
    with running((), models_dir=tmp_path) as s:
        health = httpx.get(f"{s.url}/healthz")
        assert (health.status_code, health.json()["reason"]) == (
            503,
            f"no model to serve (HAILO_MODELS_DIR={tmp_path} had no current-<model> link, or every model was removed): "
            "add one with `hailo-pipeline switch RELEASE`",
        )
        assert post(s.url, BODY).status_code == 503
        assert control(s, "switch", {"release_dir": str(bundle)}).json()["added"]
        assert httpx.get(f"{s.url}/healthz").json()["status"] == "ok"
        assert post(s.url, BODY).json()["release"] == bundle.name


def test_the_switch_command_removes_a_model(bundle: Path, fsq_bundle: Path) -> None:
    with running((bundle, fsq_bundle)) as s:
        env = {**os.environ, "CONTROL_PORT": str(s.control_port)}

        def switch(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([CLI, "switch", *args], env=env, capture_output=True, text=True, check=False)

        done = switch("--remove", FSQ)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"{FSQ}: removed (it served {fsq_bundle.name}), in ")
        assert json.loads(switch("--remove", FSQ, "--json").stdout)["removed"] is False
        refused = switch("--remove", TCN)
        assert refused.returncode == 1
        assert f"the sidecar still serves {TCN} {bundle.name}: {TCN} answers EdgeInfer's /infer" in refused.stderr
        both = switch(str(fsq_bundle), "--remove", FSQ)
        assert both.returncode == 1
        assert "give either a RELEASE to serve or --remove MODEL, not both or neither" in both.stderr


def test_models_dir_settings(tmp_path: Path) -> None:
    assert (from_env({}).release_dirs, from_env({}).models_dir) == ((DEFAULT_RELEASE_DIR,), None)
    assert (from_env({"HAILO_MODELS_DIR": str(tmp_path)}).release_dirs, from_env({"HAILO_MODELS_DIR": str(tmp_path)}).models_dir) == (
        (),
        tmp_path,
    )
    both = f"HAILO_MODELS_DIR={tmp_path} and HAILO_RELEASE_DIR \\(or serve's RELEASE arguments\\) are both set: unset HAILO_RELEASE_DIR"
    with pytest.raises(PipelineError, match=both):
        from_env({"HAILO_MODELS_DIR": str(tmp_path), "HAILO_RELEASE_DIR": str(DEFAULT_RELEASE_DIR)})
    with pytest.raises(PipelineError, match=both):
        from_env({"HAILO_MODELS_DIR": str(tmp_path)}, release_dirs=(tmp_path / "r",))
    (tmp_path / "file").write_text("")
    with pytest.raises(PipelineError, match=f"HAILO_MODELS_DIR={tmp_path}/file is not a folder: mount the host's models folder there"):
        from_env({"HAILO_MODELS_DIR": str(tmp_path / "file")})


def test_on_hailort_an_added_model_joins_the_vdevice_and_one_it_cannot_hold_is_refused(
    calls: Path, device: Path, example_builds: ExampleBuilds, monkeypatch: pytest.MonkeyPatch
) -> None:
    tcn, fsq = example_builds.tcn(compiled=True), example_builds.fsq(compiled=True)
    with running(tcn, backend="hailo", device=device) as s:
        assert control(s, "switch", {"release_dir": str(fsq)}).json()["added"]
        assert _fsq(s).status_code == 200
        assert control(s, "remove", {"model": FSQ}).json()["removed"]
        assert post(s.url, BODY).json()["backend"] == "hailo"
    log = calls.read_text().split()
    assert (log.count("VDevice"), log.count("configure")) == (1, 2), "the added model is a network group of the one VDevice"
    monkeypatch.setenv("HAILORT_DOUBLE_NETWORK_GROUPS", "1")
    with running(tcn, backend="hailo", device=device) as s:
        refused = control(s, "switch", {"release_dir": str(fsq)})
        assert (refused.status_code, refused.json()["serving"]) == (409, {TCN: {"active": tcn.name, "previous": None}})
        assert "model.hef beside 1 other network group(s): HailoRTException" in refused.json()["detail"]
        assert "a restart of the sidecar starts one holding only the releases it serves" in refused.json()["detail"]
        assert post(s.url, BODY).status_code == 200
