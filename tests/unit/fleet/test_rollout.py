"""A rollout's record and page (role rollout_report, hailo-pipeline rollout-report): records made of what a live sidecar
and the EdgeInfer stand-in really answer before and after a gated switch; quantiles checked against Prometheus's own
histogram_quantile (promtool); a restarted counter, a host put back, and a record that is not one."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hailo_pipeline.cli import main
from hailo_pipeline.errors import PipelineError
from hailo_pipeline.fleet import rollout, rollout_page
from tests.conftest import ExampleBuilds
from tests.support.promtool import promtool
from tests.support.rollout_records import CAPTURED, MODEL, SENT_DURING, WINDOW, gated, record
from tests.unit.test_edgeinfer_standin import Standin


@pytest.fixture(scope="module")
def releases(example_builds: ExampleBuilds) -> tuple[Path, Path]:
    return example_builds.tcn(), example_builds.tcn("1.0.1")


@pytest.fixture
def gated_rollout(releases: tuple[Path, Path], start_standin: Callable[..., Standin], tmp_path: Path) -> dict[str, Any]:
    """A canary's gated rollout on a live sidecar, recorded as role rollout_report records it."""
    return gated(*releases, start_standin, tmp_path)


def test_a_gated_rollout_records_its_golden_and_live_parity_latency_guard_and_edgeinfer_calls(
    gated_rollout: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "edge-01.json").write_text(json.dumps(gated_rollout))
    done = rollout.read(tmp_path)
    assert done.releases == {MODEL: gated_rollout["asked"][MODEL]}
    [host] = done.hosts
    [row] = host.models
    assert (row.outcome, row.serving, row.before) == ("serving", gated_rollout["asked"][MODEL], gated_rollout["serving_before"][MODEL])
    assert row.golden is not None
    assert row.golden["cosine_min"] >= row.golden["threshold"]
    assert row.live_gate is not None
    assert row.live_gate["windows"] == CAPTURED
    assert row.live_gate["cosine_min"] >= row.live_gate["threshold"]
    assert row.latency.answers == SENT_DURING  # the calls between the reads, not the 5 before
    assert row.latency.p50_ms is not None
    assert row.latency.p99_ms is not None
    assert 0 < row.latency.p50_ms <= row.latency.p99_ms < 1000
    assert row.input == []  # the static sample is in the calibration's envelope
    assert host.stubs == rollout.Stubs(calls=SENT_DURING, failed=0, by_error={}, restarted=False)


def test_the_quantiles_are_prometheus_histogram_quantile(gated_rollout: dict[str, Any], tmp_path: Path) -> None:
    """The record's histogram increase, as series promtool evaluates: its histogram_quantile gives our p50 and p99."""
    increase = rollout.Increase.between(*(rollout.samples(gated_rollout[side]["sidecar_metrics"]) for side in ("before", "after")))
    buckets = increase.by(rollout.LATENCY, "le", model=MODEL)
    mine = rollout.latency(increase, MODEL)
    quantiles = {q: rollout.histogram_quantile(q, {float(le): n for le, n in buckets.items()}) for q in (0.5, 0.99)}
    assert (mine.p50_ms, mine.p99_ms) == (quantiles[0.5] * 1000, quantiles[0.99] * 1000)  # type: ignore[operator]
    series = [{"series": f'answered_bucket{{le="{le}"}}', "values": f"0 {count:g}"} for le, count in buckets.items()]
    expected = [
        {"expr": f"histogram_quantile({q}, answered_bucket)", "eval_time": "1m", "exp_samples": [{"labels": "{}", "value": seconds}]}
        for q, seconds in quantiles.items()
    ]
    (tmp_path / "q.test.yml").write_text(
        yaml.safe_dump({"tests": [{"interval": "1m", "input_series": series, "promql_expr_test": expected}]})
    )
    tested = promtool("test", "rules", "q.test.yml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_histogram_quantile_interpolates_within_the_bucket_and_stops_at_the_last_finite_bound() -> None:
    buckets = {0.001: 10.0, 0.002: 30.0, 0.005: 40.0, math.inf: 50.0}
    assert rollout.histogram_quantile(0.5, buckets) == pytest.approx(0.001 + 0.001 * (25 - 10) / 20)
    assert rollout.histogram_quantile(0.1, buckets) == pytest.approx(0.0005)
    assert rollout.histogram_quantile(0.99, buckets) == 0.005  # in +Inf: the highest finite bound
    assert rollout.histogram_quantile(0.5, {0.001: 0.0, math.inf: 0.0}) is None


def test_a_counter_that_went_down_is_a_restart_and_the_read_after_is_the_increase() -> None:
    before = rollout.samples('# TYPE c_total counter\nc_total{k="a"} 10\nc_total{k="b"} 4\n# TYPE g gauge\ng 5\n')
    after = rollout.samples('c_total{k="a"} 3\nc_total{k="b"} 9\n# TYPE g gauge\ng 1\n')  # untyped: a counter by its name
    restarted = rollout.Increase.between(before, after)
    assert restarted.restarted
    assert restarted.by("c_total", "k") == {"a": 3, "b": 9}
    steady = rollout.Increase.between(
        before, rollout.samples('# TYPE c_total counter\nc_total{k="a"} 15\nc_total{k="b"} 4\nc_total{k="c"} 2\n')
    )
    assert not steady.restarted
    assert steady.by("c_total", "k") == {"a": 5, "b": 0, "c": 2}


def test_stubs_are_edgeinfer_s_failed_calls_by_error_type(start_standin: Callable[..., Standin], tmp_path: Path) -> None:
    """EdgeInfer with its sidecar gone: every call fails, counted by its own series, and each is a stub."""
    edgeinfer = start_standin(USE_REAL_MODEL="true", MODEL_BACKEND_URL="http://127.0.0.1:9/infer")
    before = rollout.samples(edgeinfer.call("GET", "/metrics")[2].decode())
    for _ in range(4):
        assert edgeinfer.analyze(WINDOW)["real"] is False
    after = rollout.samples(edgeinfer.call("GET", "/metrics")[2].decode())
    counted = rollout.stubs(rollout.Increase.between(before, after))
    said = edgeinfer.counters()["stub"]
    assert counted.calls == counted.failed == sum(n for reason, n in said.items() if reason not in ("stub_mode", "backend_unhealthy"))
    assert counted.failed >= 1
    assert sum(counted.by_error.values()) == counted.failed


def test_the_page_shows_the_canary_first_a_host_put_back_red_and_edgeinfer_s_stubs(gated_rollout: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "edge-01.json").write_text(json.dumps(gated_rollout))
    error = "live-window gate on hailo: worst cosine 0.91 on 300 captured windows (needs >= 0.98): refusing to serve"
    put_back = record(
        "edge-02", gated_rollout["before"], gated_rollout["after"] | {"healthz": None}, "old", gated_rollout["asked"][MODEL], error
    )
    (tmp_path / "edge-02.json").write_text(json.dumps(put_back))
    assert main(["rollout-report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert page.index("<td>edge-01 (canary)</td>") < page.index('data-host="edge-02"')
    assert f'<td class="verdict">put back: {error.replace(">=", "&gt;=")}</td>' in page
    assert "on 40 captured windows" in page
    assert "1 of 2 host models serve the release rolled out; put back: edge-02" in rollout_page.summary(rollout.read(tmp_path))


def test_a_folder_without_records_or_with_a_broken_one_says_what_writes_them(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no rollout record"):
        rollout.read(tmp_path)
    (tmp_path / "edge-01.json").write_text('{"host": "edge-01"}')
    with pytest.raises(PipelineError, match=r"missing canary, started.*role rollout_report writes them"):
        rollout.read(tmp_path)
    (tmp_path / "edge-01.json").write_text("<html>")
    with pytest.raises(PipelineError, match="not a rollout record"):
        rollout.read(tmp_path)


def test_a_host_whose_counters_could_not_be_read_says_so_rather_than_zero(tmp_path: Path) -> None:
    """A host put back before its sidecar or EdgeInfer answered: nothing read, so no latency and no stub count."""
    nothing = {"sidecar_metrics": None, "edgeinfer_metrics": None}
    (tmp_path / "edge-03.json").write_text(json.dumps(record("edge-03", nothing, nothing | {"healthz": None}, "old", "new", "no answer")))
    done = rollout.read(tmp_path)
    [host] = done.hosts
    assert host.stubs is None
    assert host.models[0].latency == rollout.Latency(0, None, None, False)
    assert rollout_page.summary(done) == (
        "0 of 1 host models serve the release rolled out; put back: edge-03; EdgeInfer served 0 stub answers for failed calls "
        "meanwhile (its counters could not be read on edge-03)."
    )
