"""Role hailo_sidecar's module hailo_sidecar_host_state: what a Pi has before anything changes, read in one run with
a double of docker on PATH."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.ansible_module import docker_on_path, role_module, run

RELEASE = "tcn-encoder-1.0.1-da8b00e926a3"

# docker as the host sees it: one container (hailo-inference, on image hailo-sidecar:1) and that image
DOCKER_DOUBLE = """#!/bin/sh
case "$1 $2 $5" in
  "container inspect hailo-inference") echo '"hailo-sidecar:1"' ;;
  "image inspect hailo-sidecar:1") echo '{"labels": {"org.hailo-fleet.hailort": "4.23.0"}, "architecture": "arm64"}' ;;
  "image inspect unlabelled:1") echo '{"labels": null, "architecture": "amd64"}' ;;
  "container inspect hailo-metrics") echo '{"image": "hailo-sidecar:1", "ports": {"9101/tcp": [{"HostIp": "", "HostPort": "9101"}]}}' ;;
  *) echo "Error: No such object: $5" >&2; exit 1 ;;
esac
"""


@pytest.fixture(scope="module")
def module() -> ModuleType:
    return role_module("hailo_sidecar", "hailo_sidecar_host_state")


@pytest.fixture
def host_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> Any:
    docker_on_path(tmp_path, monkeypatch, DOCKER_DOUBLE)

    def state(image: str = "hailo-sidecar:1", container: str = "hailo-inference", metrics: str = "hailo-metrics") -> dict[str, Any]:
        args = {"facts_file": str(tmp_path / "hailo_model.fact"), "models_dir": str(tmp_path / "models"), "container": container,
                "image": image, "service_socket": str(tmp_path / "hailort.sock"), "metrics_container": metrics}  # fmt: skip
        return run(module, **args)

    return state


def test_on_a_host_without_the_sidecar(host_state: Any) -> None:
    done = host_state(image="hailo-sidecar:2", container="none", metrics="none")
    assert done["changed"] is False
    assert done["state"] == {
        "fact": None, "container_image": None, "image": None, "releases": [], "unsigned": [], "links": [],
        "allowed_signers": None, "service_socket": False, "metrics": None,
    }  # fmt: skip


def test_it_reports_the_fact_the_container_the_image_and_the_releases(tmp_path: Path, host_state: Any) -> None:
    fact = {"models": {"tcn-encoder": {"current": RELEASE, "previous": None, "history": [RELEASE]}}, "last_changed": ["tcn-encoder"]}
    (tmp_path / "hailo_model.fact").write_text(json.dumps(fact))
    for name in (RELEASE, "tcn-encoder-1.0.0-0123456789ab", f"{RELEASE}.part"):
        (tmp_path / "models/releases" / name).mkdir(parents=True)
    (tmp_path / "models/releases" / f"{RELEASE}.tar.gz").write_bytes(b"")  # an archive is no release
    for link in ("current-tcn-encoder", "current-fsq"):
        (tmp_path / "models" / link).symlink_to(f"releases/{RELEASE}")
    (tmp_path / "models/current").symlink_to(f"releases/{RELEASE}")  # not a model's link
    (tmp_path / "models/currently").symlink_to("releases")  # nor this
    (tmp_path / "models/current-notes").write_text("a file, not a link")
    (tmp_path / "models/releases" / RELEASE / "SHA256SUMS.sig").write_text("signed")
    (tmp_path / "models/allowed_signers").write_text("gpusrv ssh-ed25519 AAAA\n")
    with socket.socket(socket.AF_UNIX) as service:
        service.bind(str(tmp_path / "hailort.sock"))
        done = host_state()
    assert done["changed"] is False
    assert done["state"] == {
        "fact": fact,
        "container_image": "hailo-sidecar:1",
        "image": {"hailort": "4.23.0", "architecture": "arm64"},
        "releases": ["tcn-encoder-1.0.0-0123456789ab", RELEASE, f"{RELEASE}.part"],
        "unsigned": ["tcn-encoder-1.0.0-0123456789ab", f"{RELEASE}.part"],
        "links": ["current-fsq", "current-tcn-encoder"],
        "allowed_signers": "gpusrv ssh-ed25519 AAAA\n",
        "service_socket": True,
        "metrics": {"image": "hailo-sidecar:1", "ports": {"9101/tcp": [{"HostIp": "", "HostPort": "9101"}]}},
    }
    assert host_state(image="unlabelled:1")["state"]["image"] == {"hailort": "", "architecture": "amd64"}


def test_it_refuses_a_fact_that_is_not_json_and_says_what_to_do(tmp_path: Path, host_state: Any) -> None:
    (tmp_path / "hailo_model.fact").write_text('{"models": ')
    (tmp_path / "hailort.sock").write_text("a file, not a socket")
    done = host_state()
    assert done["failed"] is True
    assert "hailo_model.fact is not JSON" in done["msg"]
    assert "put back a good copy or remove it" in done["msg"]


def test_check_mode_reads_the_same(tmp_path: Path, host_state: Any, module: ModuleType) -> None:
    args = {"facts_file": str(tmp_path / "fact"), "models_dir": str(tmp_path), "container": "hailo-inference",
            "image": "hailo-sidecar:1", "service_socket": str(tmp_path / "sock"), "metrics_container": "none"}  # fmt: skip
    assert run(module, check_mode=True, **args)["state"] == run(module, **args)["state"]
