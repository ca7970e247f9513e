"""A rollout's page (hailo-pipeline rollout-report) in Debian's headless Chromium: a canary that serves the release,
from a live sidecar's and the EdgeInfer stand-in's counters, and a host put back by the live-window gate. The page
loads without a console error or failed request, reads canary first, and marks the host put back in red."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hailo_pipeline.cli import main
from tests.conftest import ExampleBuilds
from tests.support.browser import open_page
from tests.support.rollout_records import gated, record
from tests.unit.test_edgeinfer_standin import Standin, start_standin

pytestmark = [pytest.mark.browser]

__all__ = ["start_standin"]  # the fixture

REFUSED = "live-window gate on hailo: worst cosine 0.913000 on 300 captured windows (needs >= 0.98): refusing to serve"


def test_the_rollout_page_renders_canary_first_with_the_host_put_back_in_red(
    example_builds: ExampleBuilds, start_standin: Callable[..., Standin], tmp_path: Path
) -> None:
    served, new = example_builds.tcn(), example_builds.tcn("1.0.1")
    canary = gated(served, new, start_standin, tmp_path)
    run = tmp_path / "20261207T200000Z"
    run.mkdir()
    (run / "edge-01.json").write_text(json.dumps(canary))
    put_back = record("edge-02", canary["before"], canary["after"] | {"healthz": None}, served.name, new.name, REFUSED)
    (run / "edge-02.json").write_text(json.dumps(put_back))
    assert main(["rollout-report", str(run)]) == 0
    page = open_page(
        run / "report.html",
        tmp_path / "rollout.png",
        """() => ({
            title: document.querySelector('h1').textContent,
            summary: document.querySelector('p.summary').textContent,
            rows: [...document.querySelectorAll('table.hosts tr[data-host]')].map(r => ({
                host: r.dataset.host, cls: r.className, cells: [...r.cells].map(c => c.textContent.trim()),
                colour: getComputedStyle(r.querySelector('td.verdict')).backgroundColor})),
            edgeinfer: [...document.querySelectorAll('table.edgeinfer tr[data-host]')]
                .map(r => [...r.cells].map(c => c.textContent.trim())),
        })""",
    )
    assert page["problems"] == []
    assert page["title"] == f"Rollout of {new.name}"
    assert page["summary"].startswith("1 of 2 host models serve the release rolled out; put back: edge-02")
    (first, second) = page["rows"]
    assert (first["host"], first["cls"], first["cells"][0], first["cells"][1]) == ("edge-01", "pass", "edge-01 (canary)", "serving")
    assert first["cells"][3].startswith("worst cosine ")
    assert "on 40 captured windows" in first["cells"][4]
    assert first["cells"][5] == "25"
    assert float(first["cells"][6]) > 0
    assert first["cells"][8] == "no channel flagged"
    assert (second["host"], second["cls"]) == ("edge-02", "fail")
    assert second["cells"][1] == f"put back: {REFUSED}"
    assert (second["cells"][2], second["cells"][8]) == (f"no answer from /healthz(was {served.name})", "—")
    assert second["colour"] == "rgb(251, 238, 238)"
    assert first["colour"] == "rgb(238, 248, 238)"
    assert page["edgeinfer"][0] == ["edge-01", "25", "0", "—"]
    assert (tmp_path / "rollout.png").stat().st_size > 20_000
