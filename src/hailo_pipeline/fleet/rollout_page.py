"""The rollout's page (report.html in the run's record folder): per model rolled out, each host's outcome, golden
and live-window parity, latency and input guard verdict; per host, the stubs EdgeInfer served meanwhile."""

from __future__ import annotations

import os
import tempfile
from importlib.resources import files
from pathlib import Path

import jinja2

from hailo_pipeline.fleet.rollout import Rollout

PAGE = "report.html"


def summary(rollout: Rollout) -> str:
    """One sentence: how many hosts serve what was rolled out, how many were put back, and EdgeInfer's stubs."""
    rows = [m for per_model in rollout.rows().values() for m in per_model]
    serving = sum(m.outcome == "serving" for m in rows)
    put_back = sorted({m.host for m in rows if m.outcome == "put back"})
    stubs = sum(h.stubs.failed for h in rollout.hosts if h.stubs is not None)
    unread = [h.host for h in rollout.hosts if h.stubs is None]
    said = f"{serving} of {len(rows)} host models serve the release rolled out"
    said += f"; put back: {', '.join(put_back)}" if put_back else ""
    said += f"; EdgeInfer served {stubs} stub answers for failed calls meanwhile"
    return said + (f" (its counters could not be read on {', '.join(unread)})." if unread else ".")


def render(rollout: Rollout) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True)
    template = env.from_string((files("hailo_pipeline.fleet") / "templates" / "rollout_report.html.j2").read_text(encoding="utf-8"))
    return template.render(
        releases=rollout.releases, rows=rollout.rows(), hosts=rollout.hosts, folder=rollout.folder.name, summary=summary(rollout)
    )


def write(rollout: Rollout) -> Path:
    """report.html in the rollout's folder, replaced whole (a reader never sees half a page)."""
    target = rollout.folder / PAGE
    with tempfile.NamedTemporaryFile("w", dir=rollout.folder, prefix=".report-", suffix=".html", delete=False, encoding="utf-8") as out:
        out.write(render(rollout))
    os.replace(out.name, target)
    return target
