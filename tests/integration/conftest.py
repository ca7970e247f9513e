"""What only the integration tests use: the simulated Pi, sidecar images, and a check that each test says what it
needs or why it is not a unit test (the markers registered in pyproject.toml), so that `-m "not docker"` and the
like select honestly."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# slow: needs none of the others, only more time than the unit loop has (pip installs, a C++ build, long runs).
NEEDS = {"docker", "emulated", "browser", "slow"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    unmarked = [item.nodeid for item in items if here in item.path.parents and not NEEDS & {m.name for m in item.iter_markers()}]
    if unmarked:
        raise pytest.UsageError(f"integration tests must carry one of the markers {sorted(NEEDS)}: {', '.join(unmarked)}")


def local_edge(name: str, action: str) -> str:
    """scripts/local-edge ACTION (up, down) for the simulated Pi called `name`; its output."""
    done = subprocess.run(
        [str(REPO_ROOT / "scripts/local-edge"), action],
        env={**os.environ, "LOCAL_EDGE_NAME": name},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def built_sidecar_image(*args: str) -> Iterator[str]:
    """A sidecar image from scripts/build-sidecar-image ARGS, under a tag of its own; removed afterwards."""
    tag = f"hailo-sidecar:test-{uuid.uuid4().hex[:8]}"
    built = subprocess.run([str(REPO_ROOT / "scripts/build-sidecar-image"), *args, tag], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    yield tag
    # --no-prune keeps the layers as build cache: the next build of the same context (Molecule's prepare)
    # takes seconds instead of minutes under emulation.
    subprocess.run(["docker", "rmi", "--no-prune", tag], capture_output=True)
