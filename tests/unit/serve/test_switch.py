"""Release switches in a running sidecar: loaded beside the serving release, golden-checked, then switched
while EdgeInfer-shaped traffic keeps flowing; the replaced release stays loaded; a bad release changes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hailo_pipeline.bundle.signature import SigningKey
from tests.conftest import CLI, SAMPLES, ExampleBuilds
from tests.support.sidecar_server import RunningSidecar, post, running
from tests.support.signers import allowed_signers, make_signer
from tests.support.tamper import break_goldens, edit_report

BODY = (SAMPLES / "static_imu_sample.json").read_bytes()


@pytest.fixture(scope="module")
def releases(example_builds: ExampleBuilds) -> list[Path]:
    """Three releases of the example model (1.0.0, 1.1.0, 1.2.0)."""
    return [example_builds.tcn(v) for v in ("1.0.0", "1.1.0", "1.2.0")]


def control(s: RunningSidecar, release: Path | None = None) -> httpx.Response:
    base = f"http://127.0.0.1:{s.control_port}/control"
    if release is None:
        return httpx.get(f"{base}/state")
    return httpx.post(f"{base}/switch", json={"release_dir": str(release)}, timeout=120)


@contextmanager
def traffic(url: str) -> Iterator[list[tuple[int, str | None]]]:
    """One EdgeInfer-like caller posting back to back; yields what each answer was (status, release)."""
    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def call() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                r = client.post(f"{url}/infer", content=BODY, headers={"Content-Type": "application/json"})
                answers.append((r.status_code, r.json().get("release")))

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    try:
        yield answers
    finally:
        stop.set()
        thread.join(10)


def _more(answers: list[tuple[int, str | None]], count: int) -> None:
    """Waits until `count` more answers came."""
    target = len(answers) + count
    deadline = time.monotonic() + 30
    while len(answers) < target:
        assert time.monotonic() < deadline, "the caller stopped getting answers"
        time.sleep(0.01)


def _segments(answers: list[tuple[int, str | None]]) -> list[str | None]:
    releases = [release for _, release in answers]
    return [r for i, r in enumerate(releases) if i == 0 or releases[i - 1] != r]


def test_a_switch_and_a_switch_back_answer_every_request(releases: list[Path]) -> None:
    a, b, _ = releases
    with running(a) as s, traffic(s.url) as answers:
        _more(answers, 20)
        first = control(s, b).json()
        assert (first["release"], first["previous"], first["switched"], first["loaded"]) == (b.name, a.name, True, True)
        assert not first["added"], "a switch of a served model adds none"
        assert first["gap_seconds"] is None
        _more(answers, 20)
        back = control(s, a).json()
        assert (back["release"], back["loaded"]) == (a.name, False), "the replaced release stayed loaded"
        _more(answers, 20)
    assert {status for status, _ in answers} == {200}, "no request was refused or lost during the switches"
    assert _segments(answers) == [a.name, b.name, a.name], "each switch is one atomic move"


def test_the_serving_and_the_replaced_release_stay_loaded_and_no_more(releases: list[Path]) -> None:
    a, b, c = releases
    with running(a) as s:
        assert control(s, a).json() == {
            "model": "tcn-encoder",
            "release": a.name,
            "previous": None,
            "switched": False,
            "added": False,
            "loaded": False,
        }
        control(s, b)
        control(s, c)
        state = control(s).json()
        assert (state["active"], state["previous"]) == (c.name, b.name)
        assert state["loaded"] == sorted([str(b.resolve()), str(c.resolve())])
        health = httpx.get(f"{s.url}/healthz").json()
        assert (health["release"], health["previous"]) == (c.name, b.name)
        metrics = httpx.get(f"{s.url}/metrics").text
        assert f'release="{c.name}"' in metrics
        assert f'release="{a.name}"' not in metrics


@pytest.mark.parametrize("damage", ["goldens", "checksum", "missing"])
def test_a_release_that_fails_to_load_leaves_the_serving_one_untouched(releases: list[Path], tmp_path: Path, damage: str) -> None:
    a, b, _ = releases
    bad = tmp_path / b.name
    shutil.copytree(b, bad)
    if damage == "goldens":
        break_goldens(bad)
        expected = "golden vectors on onnxruntime: worst latent cosine -1"
    elif damage == "checksum":
        (bad / "model.onnx").write_bytes(b"\x00" + (bad / "model.onnx").read_bytes()[1:])
        expected = "model.onnx does not match its sha256"
    else:
        shutil.rmtree(bad)
        expected = "does not exist"
    with running(a) as s:
        refused = control(s, bad)
        assert refused.status_code == 409
        assert refused.json()["serving"] == {"tcn-encoder": {"active": a.name, "previous": None}}
        assert expected in refused.json()["detail"]
        health = httpx.get(f"{s.url}/healthz")
        assert (health.status_code, health.json()["release"]) == (200, a.name)
        assert post(s.url, BODY).json()["release"] == a.name
        assert control(s).json()["loaded"] == [str(a.resolve())]


def test_with_signatures_required_only_a_release_signed_by_an_allowed_key_loads(releases: list[Path], tmp_path: Path) -> None:
    a, b, _ = releases
    gpusrv, stranger = make_signer(tmp_path, "gpusrv"), make_signer(tmp_path, "stranger")
    allowed = allowed_signers(tmp_path / "allowed_signers", gpusrv)
    copies = {}
    plan = [("a", a, gpusrv), ("b", b, gpusrv), ("unsigned", b, None), ("stranger", b, stranger), ("changed", b, gpusrv)]
    for name, source, signer in plan:
        copies[name] = tmp_path / name / source.name
        shutil.copytree(source, copies[name])
        if signer is not None:
            SigningKey.read(str(signer.key)).sign(copies[name])
    edit_report(copies["changed"])
    with running(copies["unsigned"], allowed_signers=str(allowed)) as s:
        health = httpx.get(f"{s.url}/healthz")
        assert health.status_code == 503
        assert "not signed (no SHA256SUMS.sig) and signatures are required" in health.text
    with running(copies["a"], allowed_signers=str(allowed)) as s:
        expected_reasons = [
            ("unsigned", "not signed (no SHA256SUMS.sig)"),
            ("stranger", "an unknown signer"),
            ("changed", "changed after signing"),
        ]
        for name, expected in expected_reasons:
            refused = control(s, copies[name])
            assert refused.status_code == 409
            assert expected in refused.json()["detail"]
        assert post(s.url, BODY).json()["release"] == a.name
        assert control(s, copies["b"]).json()["switched"]
        assert post(s.url, BODY).json()["release"] == b.name


def test_control_answers_on_its_loopback_listener_only(releases: list[Path]) -> None:
    a, b, _ = releases
    with running(a) as s:
        assert httpx.post(f"{s.url}/control/switch", json={"release_dir": str(b)}).status_code == 404
        assert httpx.get(f"{s.url}/control/state").status_code == 404
        assert "/control/switch" not in httpx.get(f"{s.url}/openapi.json").text
        assert control(s).status_code == 200
        bad = httpx.post(f"http://127.0.0.1:{s.control_port}/control/switch", content=b"{}")
        assert bad.status_code == 400
        assert "release_dir" in bad.json()["detail"]


def test_the_switch_command(releases: list[Path]) -> None:
    a, b, _ = releases
    with running(a) as s:
        env = {**os.environ, "CONTROL_PORT": str(s.control_port)}
        done = subprocess.run([CLI, "switch", str(b)], env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert f"now serving {b.name} (was {a.name})" in done.stdout
        again = subprocess.run([CLI, "switch", str(b)], env=env, capture_output=True, text=True, check=False)
        assert f"{b.name} is already served" in again.stdout
        missing = subprocess.run([CLI, "switch", str(b.parent / "nope")], env=env, capture_output=True, text=True, check=False)
        assert missing.returncode == 1
        assert f"the sidecar still serves tcn-encoder {b.name}:" in missing.stderr
    gone = subprocess.run([CLI, "switch", str(b)], env=env, capture_output=True, text=True, check=False)
    assert gone.returncode == 1
    assert "is the sidecar running here?" in gone.stderr


def test_when_the_serving_release_does_not_load_again_after_a_quick_switch_failed_both_reasons_are_said(
    calls: Path, compiled: list[Path], device: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a, b = (tmp_path / release.name for release in compiled)
    for release in compiled:
        shutil.copytree(release, tmp_path / release.name)
    monkeypatch.setenv("HAILORT_DOUBLE_NETWORK_GROUPS", "1")
    break_goldens(b)
    with running(a, backend="hailo", device=device) as s:
        (a / "model.hef").write_bytes(b"damaged while served")
        refused = control(s, b)
        assert refused.status_code == 409
        detail = refused.json()["detail"]
        assert detail.startswith(f"{b.name} did not load (")
        assert "refusing to serve" in detail
        assert f"nor did {a.name} again (" in detail
        assert "model.hef" in detail
        health = httpx.get(f"{s.url}/healthz")
        assert (health.status_code, health.json()["reason"]) == (503, f"tcn-encoder: {detail}")
        assert post(s.url, BODY).status_code == 503


@pytest.fixture(scope="module")
def compiled(example_builds: ExampleBuilds) -> list[Path]:
    """Two releases with a Hailo-8 HEF (1.0.0, 1.1.0)."""
    return [example_builds.tcn(v, compiled=True) for v in ("1.0.0", "1.1.0")]


def test_on_hailort_both_network_groups_share_one_vdevice(calls: Path, compiled: list[Path], device: Path) -> None:
    a, b = compiled
    with running(a, backend="hailo", device=device) as s, traffic(s.url) as answers:
        _more(answers, 20)
        switched = control(s, b).json()
        assert (switched["release"], switched["gap_seconds"]) == (b.name, None)
        _more(answers, 20)
    log = calls.read_text().split()
    assert log.count("VDevice") == 1, "one VDevice for both releases"
    assert log.count("configure") == 2
    assert log.index("configure", log.index("configure") + 1) < log.index("shutdown"), "b configured while a still served"
    assert log[-1] == "VDevice.release"
    assert {status for status, _ in answers} == {200}
    assert _segments(answers) == [a.name, b.name]


def test_a_device_that_holds_one_release_gets_a_quick_switch_with_its_gap_measured(
    calls: Path, compiled: list[Path], device: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a, b = compiled
    monkeypatch.setenv("HAILORT_DOUBLE_NETWORK_GROUPS", "1")
    bad = tmp_path / "bad" / b.name
    shutil.copytree(b, bad)
    break_goldens(bad)
    with running(a, backend="hailo", device=device) as s:
        refused = control(s, bad)
        assert refused.status_code == 409, "b alone fails its goldens: a is loaded again"
        assert "refusing to serve" in refused.json()["detail"]
        assert httpx.get(f"{s.url}/healthz").json()["release"] == a.name
        switched = control(s, b).json()
        assert switched["release"] == b.name
        assert switched["gap_seconds"] > 0, "the device held one release: a was unloaded before b loaded"
        assert post(s.url, BODY).json()["release"] == b.name
        assert control(s).json()["previous"] is None, "nothing is kept beside it"
