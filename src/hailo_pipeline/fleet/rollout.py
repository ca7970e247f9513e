"""What a rollout did on each host, from the records deploy.yml writes (role rollout_report): one `<host>.json` per
host the run changed or failed on, holding what the host served before, the releases it was asked to serve, the
sidecar's /metrics and EdgeInfer's /metrics read before the change and after it, the sidecar's /healthz after it,
and the failure that made the run put the host back, if one did.

Latency and stubs are the counters' increase between the two reads, so they cover the host's own rollout span; a
counter that went down means its process restarted in between, and then the read after it is the increase (since
the restart), which the summary says."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from hailo_pipeline.errors import PipelineError

LATENCY = "hailo_sidecar_request_duration_seconds_bucket"
EDGEINFER_CALLS = "hailo_inference_requests_total"  # EdgeInfer's PrometheusMetrics: {operation, status}
EDGEINFER_ERRORS = "hailo_inference_errors_total"  # {error_type}
EDGEINFER_OPERATION = "tcn_vae_inference"
RECORD_KEYS = ("host", "canary", "started", "finished", "serving_before", "asked", "before", "after", "error")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


COUNTING = ("counter", "histogram", "summary")  # the families whose samples only grow (until a restart)


def samples(text: str | None) -> Samples:
    """The counters' and histograms' samples of Prometheus text, {(sample name, labels): value}: those of families
    typed so, and untyped ones named *_total; gauges go up and down, and are left out. {} for a read that failed."""
    if text is None:
        return {}
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise PipelineError(f"not Prometheus text: {exc}") from None
    return {
        (s.name, frozenset(s.labels.items())): float(s.value)
        for family in families
        for s in family.samples
        if (family.type in COUNTING and not s.name.endswith("_created")) or (family.type == "unknown" and s.name.endswith("_total"))
    }


@dataclass(frozen=True)
class Increase:
    """Counters' increase between two reads; `restarted` when one went down (the read after is then the increase)."""

    values: Samples
    restarted: bool

    @classmethod
    def between(cls, before: Samples, after: Samples) -> Increase:
        restarted = any(after.get(key, 0.0) < value for key, value in before.items() if key in after)
        if restarted:
            return cls(dict(after), True)
        return cls({key: value - before.get(key, 0.0) for key, value in after.items()}, False)

    def by(self, name: str, label: str, **labels: str) -> dict[str, float]:
        """The series of `name` matching `labels`, summed by the value of `label`."""
        wanted, sums = set(labels.items()), dict[str, float]()
        for (sample, found), value in self.values.items():
            if sample == name and wanted <= found:
                key = dict(found).get(label, "")
                sums[key] = sums.get(key, 0.0) + value
        return sums


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus's histogram_quantile on cumulative bucket counts {upper bound: count}: linear within the bucket the
    rank falls in (the first from 0), the highest finite bound when it falls in +Inf. None without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank, lower, below = q * buckets[bounds[-1]], 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = bound, count
    return lower


@dataclass(frozen=True)
class Latency:
    answers: int
    p50_ms: float | None
    p99_ms: float | None
    restarted: bool


def latency(increase: Increase, model: str) -> Latency:
    """p50 and p99 of the sidecar's answered requests of `model` (every route) over the increase."""
    buckets = {float(le): n for le, n in increase.by(LATENCY, "le", model=model).items()}
    answers = int(buckets.get(math.inf, 0))

    def ms(q: float) -> float | None:
        seconds = histogram_quantile(q, buckets)
        return None if seconds is None else seconds * 1000

    return Latency(answers, ms(0.5), ms(0.99), increase.restarted)


@dataclass(frozen=True)
class Stubs:
    """EdgeInfer's model calls during the rollout and those that failed, each answered with a random stub."""

    calls: int
    failed: int
    by_error: dict[str, int]
    restarted: bool


def stubs(increase: Increase) -> Stubs:
    by_status = increase.by(EDGEINFER_CALLS, "status", operation=EDGEINFER_OPERATION)
    # EdgeInfer counts each failure twice: by its kind (timeout, http_503, ...) and by backend (backend_hailo, ...)
    errors = {
        kind: int(n) for kind, n in sorted(increase.by(EDGEINFER_ERRORS, "error_type").items()) if n and not kind.startswith("backend_")
    }
    return Stubs(int(sum(by_status.values())), int(by_status.get("failure", 0)), errors, increase.restarted)


@dataclass(frozen=True)
class HostModel:
    """One model of one host after the rollout."""

    host: str
    canary: bool
    model: str
    asked: str  # the release the run asked the host to serve
    before: str | None  # what it served before
    serving: str | None  # what /healthz says it serves after
    error: str  # the failure that put the host back; "" when none
    golden: dict[str, Any] | None
    live_gate: dict[str, Any] | None
    latency: Latency
    input: list[str] | None  # the input guard's warnings; None when it has no guard
    reachable: bool  # /healthz answered after the change

    @property
    def outcome(self) -> str:
        if self.error:
            return "put back"
        return "serving" if self.serving == self.asked else "not serving"


@dataclass(frozen=True)
class HostRecord:
    host: str
    canary: bool
    models: list[HostModel]
    stubs: Stubs | None  # None when EdgeInfer's /metrics could not be read before and after


@dataclass(frozen=True)
class Rollout:
    folder: Path
    hosts: list[HostRecord]  # the canary first, then by host name

    @property
    def releases(self) -> dict[str, str]:
        """model -> the release the run rolled out: the one asked of the hosts that did not serve it before."""
        releases: dict[str, str] = {}
        for host in self.hosts:
            for model in host.models:
                if model.asked != model.before:
                    releases.setdefault(model.model, model.asked)
        return releases

    def rows(self) -> dict[str, list[HostModel]]:
        """Per model rolled out, each host's row, in host order."""
        return {model: [m for h in self.hosts for m in h.models if m.model == model] for model in self.releases}


def read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{path}: not a rollout record ({exc}); deploy.yml's role rollout_report writes them") from None
    missing = [key for key in RECORD_KEYS if not isinstance(record, dict) or key not in record]
    if missing:
        raise PipelineError(f"{path}: not a rollout record (missing {', '.join(missing)}); deploy.yml's role rollout_report writes them")
    return record


def host_record(record: dict[str, Any]) -> HostRecord:
    before, after = record["before"], record["after"]
    healthz = after.get("healthz") or {}
    health_models = healthz.get("models") or {}
    sidecar = Increase.between(samples(before.get("sidecar_metrics")), samples(after.get("sidecar_metrics")))
    read_both = before.get("edgeinfer_metrics") is not None and after.get("edgeinfer_metrics") is not None
    edgeinfer = stubs(Increase.between(samples(before["edgeinfer_metrics"]), samples(after["edgeinfer_metrics"]))) if read_both else None
    models = []
    for model, release in sorted(record["asked"].items()):
        health = health_models.get(model) or {}
        models.append(
            HostModel(
                host=record["host"],
                canary=bool(record["canary"]),
                model=model,
                asked=release,
                before=record["serving_before"].get(model),
                serving=health.get("release"),
                error=record["error"],
                golden=health.get("golden"),
                live_gate=health.get("live_gate"),
                latency=latency(sidecar, model),
                input=health.get("input"),
                reachable=bool(healthz),
            )
        )
    return HostRecord(record["host"], bool(record["canary"]), models, edgeinfer)


def read(folder: Path) -> Rollout:
    """The rollout recorded in `folder` (its <host>.json files), the canary first, then by host name."""
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise PipelineError(f"{folder}: no rollout record (<host>.json): deploy.yml writes one per host it changed")
    hosts = sorted((host_record(read_record(path)) for path in paths), key=lambda h: (not h.canary, h.host))
    return Rollout(folder, hosts)
