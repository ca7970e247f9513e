"""The shipped alert rules in a real Prometheus (issue #40): Debian's server, as scripts/bootstrap unpacks it, scrapes two
live sidecars on the example encoder, one fed EdgeInfer's realistic sample (its gyroscope in deg/s) and one its static
sample, and evaluates files/monitoring/alerts.yml. HailoInputUnitsMismatch fires for gx, gy and gz with deg/s
suggested once 100 windows are judged, not before, and no alert concerns the static sample's sidecar.

The shipped rules hold the input alerts for 10 and 15 minutes (`for:`). So that the test takes seconds, it loads
files/monitoring/alerts.yml and writes a copy in which only those two rules' `for` is SHORT_FOR, asserting that every
other field of every rule is the shipped one (the shipped file is not touched); the scrape and evaluation intervals are
1 s. Prometheus runs in its own process with its own configuration and storage in tmp_path, on a free loopback port."""

from __future__ import annotations

import copy
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from tests.conftest import SAMPLES
from tests.support.promtool import MONITORING, debian_tool
from tests.support.sidecar_server import RunningSidecar, free_port, post, running

pytestmark = [pytest.mark.slow]

INPUT_ALERTS = ("HailoInputUnitsMismatch", "HailoInputOutOfCalibration")
SHORT_FOR = "2s"
MODEL = "tcn-encoder"
GYRO = ("gx", "gy", "gz")
REALISTIC = (SAMPLES / "realistic_imu_sample.json").read_bytes()
STATIC = (SAMPLES / "static_imu_sample.json").read_bytes()
T = TypeVar("T")


def _prometheus_binary() -> str:
    found = debian_tool("prometheus")
    if found is None:
        reason = "Debian's prometheus server not found: scripts/bootstrap unpacks it from the prometheus package and links it into the venv"
        if os.environ.get("CI") == "true":  # bootstrap installs it there: its absence is a broken machine, not a skip
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _input_for(rules: dict[str, Any], value: str | None) -> dict[str, Any]:
    """A copy of `rules` in which the input alerts' `for` is `value` (None: no `for`)."""
    changed = copy.deepcopy(rules)
    for group in changed["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in INPUT_ALERTS:
                rule.pop("for")
                if value is not None:
                    rule["for"] = value
    return changed


def _shortened_rules(path: Path) -> dict[str, Any]:
    """files/monitoring/alerts.yml with the input alerts' `for` at SHORT_FOR, written to `path`; the shipped rules."""
    shipped: dict[str, Any] = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    assert {r.get("alert") for g in shipped["groups"] for r in g["rules"]} >= set(INPUT_ALERTS)
    path.write_text(yaml.safe_dump(_input_for(shipped, SHORT_FOR), sort_keys=False))
    written = yaml.safe_load(path.read_text())
    assert [r["for"] for g in written["groups"] for r in g["rules"] if r.get("alert") in INPUT_ALERTS] == [SHORT_FOR] * len(INPUT_ALERTS)
    assert _input_for(written, None) == _input_for(shipped, None)  # nothing but those two `for`s differs
    return shipped


@contextmanager
def _prometheus(tmp_path: Path, rules: Path, targets: dict[str, RunningSidecar]) -> Iterator[str]:
    """Prometheus scraping each sidecar as job hailo-sidecar under its own instance name; its base URL."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "hailo-sidecar",
                "static_configs": [
                    {"targets": [s.url.removeprefix("http://")], "labels": {"instance": name}} for name, s in targets.items()
                ],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{free_port()}"
    log = (tmp_path / "prometheus.log").open("w")
    server = subprocess.Popen(
        [
            _prometheus_binary(),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _until(lambda: server.poll() is None and _ready(url), 30, f"Prometheus did not get ready (log: {log.name})")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _until(found: Callable[[], T], seconds: float, what: str) -> T:
    deadline = time.monotonic() + seconds
    while not (result := found()):
        assert time.monotonic() < deadline, what
        time.sleep(0.25)
    return result


def _api(url: str, path: str, **params: str) -> Any:
    answer = httpx.get(f"{url}/api/v1/{path}", params=params, timeout=5).json()
    assert answer["status"] == "success", answer
    return answer["data"]


def _query(url: str, promql: str) -> dict[str, float]:
    """An instant query's values by their channel label (or '' for a series without one)."""
    return {r["metric"].get("channel", ""): float(r["value"][1]) for r in _api(url, "query", query=promql)["result"]}


def _alerts(url: str, instance: str) -> list[dict[str, Any]]:
    return [a for a in _api(url, "alerts")["alerts"] if a["labels"].get("instance") == instance]


def _firing(url: str, instance: str, alertname: str, at_least: int) -> list[dict[str, Any]]:
    """The instance's firing `alertname` alerts, once there are at least `at_least` of them."""
    firing = [a for a in _alerts(url, instance) if a["state"] == "firing" and a["labels"]["alertname"] == alertname]
    return firing if len(firing) >= at_least else []


def _send(s: RunningSidecar, body: bytes, windows: int) -> None:
    assert {post(s.url, body).status_code for _ in range(windows)} == {200}


def test_the_units_alert_fires_in_a_real_prometheus_through_the_shipped_rules(bundle: Path, tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yml"
    shipped = _shortened_rules(rules)
    units_rule = next(r for g in shipped["groups"] for r in g["rules"] if r.get("alert") == "HailoInputUnitsMismatch")
    with running(bundle) as deg, running(bundle) as still, _prometheus(tmp_path, rules, {"edge-deg": deg, "edge-still": still}) as prom:
        _send(deg, REALISTIC, 60)
        _send(still, STATIC, 120)
        _until(lambda: _query(prom, 'hailo_sidecar_input_windows{instance="edge-deg"}') == {"": 60.0}, 30, "60 windows never scraped")
        # scraped: the guard flags the gyroscope already, but the rule waits for 100 judged windows
        mismatch = _query(prom, 'hailo_sidecar_input_unit_mismatch{instance="edge-deg", suggested="deg/s"} == 1')
        assert sorted(mismatch) == list(GYRO)
        assert _api(prom, "query", query=units_rule["expr"])["result"] == []

        _send(deg, REALISTIC, 60)
        firing = _until(lambda: _firing(prom, "edge-deg", "HailoInputUnitsMismatch", len(GYRO)), 60, "HailoInputUnitsMismatch did not fire")
        assert sorted(a["labels"]["channel"] for a in firing) == list(GYRO)
        for alert in firing:
            channel = alert["labels"]["channel"]
            assert alert["labels"] == {
                "alertname": "HailoInputUnitsMismatch",
                "instance": "edge-deg",
                "model": MODEL,
                "channel": channel,
                "suggested": "deg/s",
                "severity": "warning",
            }
            assert alert["annotations"]["summary"] == f"edge-deg: {MODEL}'s clients send {channel} in deg/s, not the declared unit"
            assert f"hailo_sidecar_client_units ({MODEL}: {channel}: deg/s; no rebuild)" in alert["annotations"]["description"]

        # a unit mismatch is its own alert: HailoInputOutOfCalibration neither fires nor waits for these channels
        assert len(_alerts(prom, "edge-deg")) == len(GYRO)
        # the static sample's sidecar was scraped and judged too, and nothing fires or waits for it
        assert _query(prom, 'hailo_sidecar_input_windows{instance="edge-still"}') == {"": 120.0}
        assert _alerts(prom, "edge-still") == []
        # every shipped rule evaluates in Prometheus 2.42 without an error
        evaluated = [r for g in _api(prom, "rules")["groups"] for r in g["rules"]]
        assert len(evaluated) == sum(len(g["rules"]) for g in shipped["groups"])
        assert {(r["name"], r["health"], r.get("lastError", "")) for r in evaluated if r["health"] != "ok"} == set()
