"""Role hailo_sidecar's module hailo_sidecar_serve: the sidecar container switched to releases and proven, run with
a double of `docker exec` on PATH that answers as a sidecar would."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.ansible_module import docker_on_path, role_module, run

# docker exec as a sidecar container answers: the control listener opens after $LISTEN_AFTER calls, a release whose
# name holds "served" is already served, one holding "unserved" is of a model not served (added), a model to remove
# whose name holds "served" is served (removed; "busy": refused), the current-<model> links are $LINKS, /healthz
# fails with $HEALTHZ_FAILS if set, a release holding "drifts" fails its golden vectors
SIDECAR_DOUBLE = """#!/bin/sh
shift 2
echo "$1 $2 $4" >> "$CALLS"
case "$1 $2" in
  */hailo-pipeline\\ switch)
    n=$(grep -c ' switch ' "$CALLS")
    if [ "$n" -le "${LISTEN_AFTER:-0}" ]; then echo "no sidecar control listener at /models/.control" >&2; exit 1; fi
    case "$4 $5" in
      --remove\\ *busy*) echo "the sidecar still serves $5: EdgeInfer's /infer answers with it" >&2; exit 1 ;;
      --remove\\ *served*) echo '{"removed": true}' ;;
      --remove\\ *) echo '{"removed": false}' ;;
      *unserved*) echo '{"switched": false, "added": true}' ;;
      *served*) echo '{"switched": false, "added": false}' ;;
      *) echo '{"switched": true, "added": false}' ;;
    esac ;;
  */python\\ -c)
    case "$3" in *current-*) echo "$LINKS"; exit 0 ;; esac
    if [ -n "${HEALTHZ_FAILS:-}" ]; then echo "$HEALTHZ_FAILS" >&2; exit 1; fi ;;
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

    def serve(*releases: str, remove: tuple[str, ...] = (), check_mode: bool = False, **env: str) -> tuple[dict[str, Any], list[str]]:
        calls.write_text("")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        args = {"container": "hailo-inference", "releases": list(releases), "remove": list(remove), "retries": 3, "delay": 0}
        done = run(module, check_mode=check_mode, **args)
        return done, [call.strip() for call in calls.read_text().splitlines()]

    return serve


def test_it_waits_for_the_control_listener_then_switches_checks_health_and_goldens(serve: Any) -> None:
    done, calls = serve("tcn-2", "fsq-1-served", LISTEN_AFTER="2")
    assert "failed" not in done, done
    assert (done["changed"], done["switched"]) == (True, ["tcn-2"])
    switch, probe = "/opt/sidecar/bin/hailo-pipeline switch", "/opt/sidecar/bin/hailo-pipeline probe"
    assert calls == [f"{switch} /models/releases/tcn-2"] * 3 + [f"{switch} /models/releases/fsq-1-served", "/opt/sidecar/bin/python -c"] + [
        f"{probe} /models/releases/tcn-2",
        f"{probe} /models/releases/fsq-1-served",
    ]


def test_releases_served_already_and_models_not_served_change_nothing(serve: Any) -> None:
    done, _ = serve("tcn-1-served", remove=("fsq",))
    assert (done["changed"], done["switched"], done["removed"]) == (False, [], [])


def test_a_model_not_served_is_added_and_one_is_removed_after_the_switches(serve: Any) -> None:
    done, calls = serve("tcn-1-served", "fsq-1-unserved", remove=("cnn-served",))
    assert (done["changed"], done["switched"], done["removed"]) == (True, ["fsq-1-unserved"], ["cnn-served"])
    switch = "/opt/sidecar/bin/hailo-pipeline switch"
    assert calls[:3] == [f"{switch} /models/releases/tcn-1-served", f"{switch} /models/releases/fsq-1-unserved", f"{switch} --remove"]


def test_a_removal_alone_changes_the_host(serve: Any) -> None:
    done, calls = serve("tcn-1-served", remove=("fsq-served",))
    assert (done["changed"], done["switched"], done["removed"]) == (True, [], ["fsq-served"])
    assert "/opt/sidecar/bin/hailo-pipeline switch --remove" in calls


def test_check_mode_reports_from_the_links_and_proves_only_what_is_served(serve: Any) -> None:
    links = '{"tcn-encoder": "tcn-1", "conv2d-fsq": "fsq-1"}'
    done, calls = serve("tcn-2", "fsq-1", "cnn-1", remove=("conv2d-fsq", "other"), check_mode=True, LINKS=links)
    assert (done["changed"], done["switched"], done["removed"]) == (True, ["tcn-2", "cnn-1"], ["conv2d-fsq"])
    assert calls == [
        "/opt/sidecar/bin/python -c",
        "/opt/sidecar/bin/python -c",
        "/opt/sidecar/bin/hailo-pipeline probe /models/releases/fsq-1",
    ]


def test_check_mode_with_nothing_to_do_changes_nothing(serve: Any) -> None:
    done, _ = serve("tcn-1", check_mode=True, LINKS='{"tcn-encoder": "tcn-1"}')
    assert (done["changed"], done["switched"], done["removed"]) == (False, [], [])


@pytest.mark.parametrize(
    ("releases", "env", "reason"),
    [
        (["tcn-2"], {"LISTEN_AFTER": "9"}, "switch to tcn-2: no sidecar control listener"),
        (["tcn-2"], {"HEALTHZ_FAILS": "golden vectors on onnxruntime differ"}, "/healthz: golden vectors on onnxruntime differ"),
        (["tcn-2", "fsq-drifts"], {}, "golden vectors of fsq-drifts: golden vectors differ: cosine 0.71 < 0.99"),
        (["tcn-2"], {"REMOVE": "enc-busy"}, "remove enc-busy: the sidecar still serves enc-busy: EdgeInfer's /infer answers with it"),
    ],
)
def test_it_stops_at_the_step_that_fails_and_says_why(serve: Any, releases: list[str], env: dict[str, str], reason: str) -> None:
    done, _ = serve(*releases, remove=tuple(filter(None, [env.pop("REMOVE", "")])), **env)
    assert done["failed"] is True
    assert done["msg"].startswith(reason)
