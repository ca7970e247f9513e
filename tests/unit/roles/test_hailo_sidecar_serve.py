"""Role hailo_sidecar's module hailo_sidecar_serve: the sidecar container switched to releases and proven, run with
a double of `docker exec` on PATH that answers as a sidecar would."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.ansible_module import docker_on_path, role_module, run

# docker exec as a sidecar container answers: the control listener opens after $LISTEN_AFTER calls, a release whose
# name holds "served" is already served, /healthz fails with $HEALTHZ_FAILS if set, a release holding "drifts"
# fails its golden vectors
SIDECAR_DOUBLE = """#!/bin/sh
shift 2
echo "$1 $2" >> "$CALLS"
case "$1 $2" in
  */hailo-pipeline\\ switch)
    n=$(grep -c ' switch$' "$CALLS")
    if [ "$n" -le "${LISTEN_AFTER:-0}" ]; then echo "no sidecar control listener at /models/.control" >&2; exit 1; fi
    case "$4" in *served*) echo '{"switched": false}' ;; *) echo '{"switched": true}' ;; esac ;;
  */python\\ -c) if [ -n "${HEALTHZ_FAILS:-}" ]; then echo "$HEALTHZ_FAILS" >&2; exit 1; fi ;;
  */hailo-pipeline\\ probe) case "$4" in *drifts*) echo "golden vectors differ: cosine 0.71 < 0.99" >&2; exit 1 ;; esac ;;
esac
"""


@pytest.fixture(scope="module")
def module() -> ModuleType:
    return role_module("hailo_sidecar", "hailo_sidecar_serve")


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> Any:
    docker_on_path(tmp_path, monkeypatch, SIDECAR_DOUBLE)
    calls = tmp_path / "calls"
    monkeypatch.setenv("CALLS", str(calls))

    def serve(*releases: str, check_mode: bool = False, **env: str) -> tuple[dict[str, Any], list[str]]:
        calls.write_text("")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        done = run(module, check_mode=check_mode, container="hailo-inference", releases=list(releases), retries=3, delay=0)
        return done, calls.read_text().splitlines()

    return serve


def test_it_waits_for_the_control_listener_then_switches_checks_health_and_goldens(serve: Any) -> None:
    done, calls = serve("tcn-2", "fsq-1-served", LISTEN_AFTER="2")
    assert "failed" not in done, done
    assert (done["changed"], done["switched"]) == (True, ["tcn-2"])
    bin_dir = "/opt/sidecar/bin"
    assert calls == [f"{bin_dir}/hailo-pipeline switch"] * 4 + [f"{bin_dir}/python -c"] + [f"{bin_dir}/hailo-pipeline probe"] * 2


def test_releases_served_already_change_nothing(serve: Any) -> None:
    done, _ = serve("tcn-1-served")
    assert (done["changed"], done["switched"]) == (False, [])


def test_check_mode_switches_nothing_but_proves_health_and_goldens(serve: Any) -> None:
    done, calls = serve("tcn-2", check_mode=True)
    assert (done["changed"], done["switched"]) == (False, [])
    assert calls == ["/opt/sidecar/bin/python -c", "/opt/sidecar/bin/hailo-pipeline probe"]


@pytest.mark.parametrize(
    ("releases", "env", "reason"),
    [
        (["tcn-2"], {"LISTEN_AFTER": "9"}, "switch to tcn-2: no sidecar control listener"),
        (["tcn-2"], {"HEALTHZ_FAILS": "golden vectors on onnxruntime differ"}, "/healthz: golden vectors on onnxruntime differ"),
        (["tcn-2", "fsq-drifts"], {}, "golden vectors of fsq-drifts: golden vectors differ: cosine 0.71 < 0.99"),
    ],
)
def test_it_stops_at_the_step_that_fails_and_says_why(serve: Any, releases: list[str], env: dict[str, str], reason: str) -> None:
    done, _ = serve(*releases, **env)
    assert done["failed"] is True
    assert done["msg"].startswith(reason)
