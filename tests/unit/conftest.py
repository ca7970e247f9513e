"""Unit tests need no Docker engine: each runs with DOCKER_HOST pointing nowhere, so one that reaches for the
engine (rather than the docker double some put on PATH) fails here instead of passing on a machine that has one."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_docker_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
