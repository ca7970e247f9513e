"""files/monitoring/: the alert rules pass promtool's checks and unit tests, every series the rules and the
dashboard read is one the sidecar or EdgeInfer emits, and playbooks/monitoring.yml writes a configuration
Prometheus accepts, with the fleet's Pis by their Tailscale names."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from hailo_pipeline.clients.metrics_gateway import pi_metrics
from hailo_pipeline.serve.metrics import SidecarMetrics
from tests.support.edgeinfer.standin import Counters
from tests.support.promtool import MONITORING, promtool

# PromQL words that are not series: functions, aggregations, keywords
PROMQL_WORDS = {"sum", "max", "by", "rate", "increase", "histogram_quantile", "avg_over_time", "count", "without", "on", "and", "or"}


def test_the_rules_are_valid_and_pass_their_unit_tests() -> None:
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "tests/alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_unit_tests_fail_when_a_threshold_moves(tmp_path: Path) -> None:
    shutil.copytree(MONITORING, tmp_path / "monitoring")
    rules = tmp_path / "monitoring/alerts.yml"
    rules.write_text(rules.read_text().replace("> 0.040", "> 0.050"))
    tested = promtool("test", "rules", "tests/alerts.test.yml", cwd=tmp_path / "monitoring")
    assert tested.returncode == 1
    assert "alertname: HailoSidecarSlow" in tested.stdout + tested.stderr


def emitted_series(sysfs: Path) -> set[str]:
    """Every series name the sidecar's registry, the metrics gateway's Pi readings (from a Pi-like sysfs) and EdgeInfer
    (its stand-in's exposition) write, plus `up`."""
    names = {"up"}
    (sysfs / "devices/platform/soc/soc:firmware").mkdir(parents=True)
    (sysfs / "devices/platform/soc/soc:firmware/get_throttled").write_text("0\n")
    (sysfs / "class/thermal/thermal_zone0").mkdir(parents=True)
    (sysfs / "class/thermal/thermal_zone0/temp").write_text("50000\n")
    text = SidecarMetrics().render().decode() + Counters().prometheus() + pi_metrics(sysfs).decode()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        base = name.removesuffix("_total")
        names |= {
            "counter": {f"{base}_total"},
            "histogram": {f"{name}_bucket", f"{name}_sum", f"{name}_count"},
        }.get(kind, {name})
    return names


def series_in(expr: str) -> set[str]:
    """The series names a PromQL expression reads: its identifiers outside label matchers and by (...) and on (...) lists."""
    bare = re.sub(r"\{[^}]*\}|\b(?:by|on) \([^)]*\)|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare)) - PROMQL_WORDS
    return {w for w in words if not re.fullmatch(r"\d.*", w)}


def test_every_series_the_rules_and_the_dashboard_read_is_emitted(tmp_path: Path) -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    exprs = {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs |= {f"panel {p['title']}": t["expr"] for p in dashboard["panels"] for t in p["targets"]}
    emitted = emitted_series(tmp_path)
    unknown = {where: sorted(series_in(expr) - emitted) for where, expr in exprs.items() if series_in(expr) - emitted}
    assert unknown == {}
    assert series_in(exprs["HailoSidecarSlow"]) == {"hailo_sidecar_request_duration_seconds_bucket"}  # the parser sees series


@pytest.mark.parametrize("address", ["pi-edge-01.tailnet-example.ts.net:9101", "pi-edge-01:8080"])
def test_instance_is_the_short_name_the_inventory_and_the_alerts_use(address: str) -> None:
    relabel = yaml.safe_load((MONITORING / "prometheus.yml").read_text())["scrape_configs"][0]["relabel_configs"][0]
    match = re.fullmatch(relabel["regex"], address)  # Prometheus anchors the regex the same way
    assert match is not None
    assert match.expand(relabel.get("replacement", r"\1").replace("$1", r"\1")) == "pi-edge-01"
