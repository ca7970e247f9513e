"""scripts/local-edge: the demo's simulated Pi comes up with EdgeInfer in stub mode, and one that was stopped
(this machine restarted) or left half set up is recreated whole instead of being trusted."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.integration.conftest import local_edge

pytestmark = [pytest.mark.docker]


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True)


def _container_id(name: str) -> str:
    return _docker("container", "inspect", "-f", "{{.Id}}", name).stdout.strip()


def _edgeinfer_in_stub_mode(name: str) -> bool:
    """Whether the stand-in's /healthz, once it listens (its port is published before its server starts), says
    stub mode. curl's Accept: */* gets EdgeInfer's JSON; its inference_capability check is "stub" then."""
    deadline = time.monotonic() + 30
    while (answer := _docker("exec", name, "curl", "-sS", "-m", "5", "http://127.0.0.1:8080/healthz")).returncode:
        assert time.monotonic() < deadline, answer.stderr
        time.sleep(0.5)
    return bool(json.loads(answer.stdout)["checks"]["inference_capability"]["status"] == "stub")


@pytest.fixture
def name() -> Iterator[str]:
    name = f"local-edge-test-{uuid.uuid4().hex[:8]}"
    yield name
    local_edge(name, "down")
    assert _docker("container", "inspect", name).returncode != 0
    assert _docker("volume", "inspect", f"{name}-docker").returncode != 0, "down removes the engine's volume too"


def test_up_is_a_no_op_while_edgeinfer_runs_and_recreates_a_stopped_or_broken_pi(name: str) -> None:
    local_edge(name, "up")
    assert _edgeinfer_in_stub_mode(name)
    first = _container_id(name)

    assert "is running" in local_edge(name, "up")
    assert _container_id(name) == first

    _docker("stop", "-t", "2", name)
    assert "recreating it" in local_edge(name, "up")
    second = _container_id(name)
    assert second != first
    assert _edgeinfer_in_stub_mode(name)

    _docker("exec", name, "docker", "rm", "-f", "edge-infer")
    assert "recreating it" in local_edge(name, "up")
    assert _container_id(name) != second
    assert _edgeinfer_in_stub_mode(name)
