"""The sidecar image, built with the local engine from files/sidecar/, runs a bundle hardened as on a Pi."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT, SAMPLES, build_example
from tests.sidecar_server import free_port


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def image() -> str:
    tag = f"hailo-sidecar:test-{uuid.uuid4().hex[:8]}"
    built = subprocess.run([str(REPO_ROOT / "scripts/build-sidecar-image"), tag], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def test_image_serves_a_bundle_read_only_as_non_root(image: str, sources: dict[str, Path], tmp_path: Path) -> None:
    bundle = build_example(tmp_path, sources["tcn_encoder"])
    port, name = free_port(), f"sidecar-test-{uuid.uuid4().hex[:8]}"
    _docker(
        "run", "-d", "--name", name, "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--health-interval", "1s", "-v", f"{bundle}:/models/current:ro", "-p", f"127.0.0.1:{port}:9000", image,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while _docker("inspect", "-f", "{{.State.Health.Status}}", name) != "healthy":
            assert time.monotonic() < deadline, _docker("logs", name)
            time.sleep(0.5)
        assert _docker("inspect", "-f", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}", name) == "1000:1000 true"
        health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        assert health["release"] == bundle.name
        answer = httpx.post(
            f"http://127.0.0.1:{port}/infer",
            content=(SAMPLES / "realistic_imu_sample.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        ).json()
        assert (len(answer["latent"]), len(answer["motif_scores"]), answer["backend"]) == (64, 12, "onnxruntime")
        _docker("stop", "-t", "20", name)
        assert _docker("inspect", "-f", "{{.State.ExitCode}}", name) == "0", "SIGTERM drains and exits cleanly"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_context_mode_writes_what_a_host_build_needs_and_is_rerunnable(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for _ in range(2):
        made = subprocess.run([str(REPO_ROOT / "scripts/build-sidecar-image"), "--context", str(context)], capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        assert made.stdout.strip() == str(context)
    assert (context / "Dockerfile").read_text() == (REPO_ROOT / "files/sidecar/Dockerfile").read_text()
    wheels = {p.name.split("-")[0].lower() for p in (context / "wheels").iterdir()}
    assert {"hailo_pipeline", "fastapi", "onnxruntime", "uvicorn"} <= wheels


def test_context_mode_refuses_a_folder_that_is_not_a_context(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    made = subprocess.run([str(REPO_ROOT / "scripts/build-sidecar-image"), "--context", str(tmp_path)], capture_output=True, text=True)
    assert made.returncode != 0
    assert "holds more than a build context" in made.stderr
    assert (tmp_path / "notes.txt").read_text() == "keep me"
