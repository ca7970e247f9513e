"""The sidecar's Prometheus metrics, on a registry of its own (one per app). Every series but the queue's
carries the model it concerns (`model`: the manifest name; EdgeInfer's /infer and the Open Inference
Protocol count alike, `route` tells them apart). The input guard's series (hailo_sidecar_input_*) are its verdict
per model and channel, worked out at each scrape (host/input_watch.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hailo_pipeline.bundle.input_guard import VERDICTS, Verdict

# Below 1 ms (the accelerator and a fast CPU model) up to 1 s; 0.045 s is EdgeInfer's read timeout.
# Parity cosines: a healthy INT8 device sits at 0.99+; the gate is the bundle's (0.98 by default).
PARITY_BUCKETS = (0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 1.0)
LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.045, 0.1, 0.25, 0.5, 1.0)


class SidecarMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "hailo_sidecar_requests", "inference requests by model, route and HTTP status", ["model", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "hailo_sidecar_request_duration_seconds",
            "answered inference requests' time in the sidecar",
            ["model", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "hailo_sidecar_inference_duration_seconds", "backend time per window", ["model"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("hailo_sidecar_queue_depth", "requests waiting for the device", registry=r)
        self.rejects = Counter("hailo_sidecar_rejects", "refused requests by model and reason", ["model", "reason"], registry=r)
        self.padded = Counter("hailo_sidecar_padded_windows", "windows shorter than the model's, padded", ["model"], registry=r)
        self.parity = Histogram(
            "hailo_sidecar_parity_cosine",
            "sampled windows' cosine between the accelerator's output and the bundle's FP32 ONNX on the CPU",
            ["model"],
            buckets=PARITY_BUCKETS,
            registry=r,
        )
        self.parity_below_gate = Counter(
            "hailo_sidecar_parity_below_gate", "sampled windows whose parity cosine fell below the quantization gate", ["model"], registry=r
        )
        self.ready = Gauge("hailo_sidecar_ready", "1 when /healthz answers 200", registry=r)
        self.model_info = Gauge(
            "hailo_sidecar_model_info",
            "the release each model serves",
            ["model", "release", "backend", "hef_sdk_version", "hailort_version"],
            registry=r,
        )
        self.input_guard_errors = Counter(
            "hailo_sidecar_input_guard_errors",
            "exceptions in the input guard (each skipped: answers are unaffected; the first per release is logged)",
            ["model"],
            registry=r,
        )
        self.capture_errors = Counter(
            "hailo_sidecar_capture_errors",
            "failures of the capture (a failed write stops the model's capture; answers are unaffected)",
            ["model"],
            registry=r,
        )
        self._input = _InputVerdicts()
        r.register(self._input)
        self._capture = _CaptureCounts()
        r.register(self._capture)
        self._info_labels: dict[str, tuple[str, ...]] = {}
        self._refusals: dict[tuple[str, str, int, str], tuple[Any, Any]] = {}
        self._answers: dict[tuple[str, str], tuple[Any, Any]] = {}

    def answered(self, model: str, route: str, seconds: float) -> None:
        """Counts an answered inference request and its time in the sidecar (its series looked up once: the hot path)."""
        series = self._answers.get((model, route))
        if series is None:
            series = self._answers[model, route] = (self.requests.labels(model, route, "200"), self.latency.labels(model, route))
        series[0].inc()
        series[1].observe(seconds)

    def refused(self, model: str, route: str, status: int, kind: str) -> None:
        """Counts a refused inference request (its series looked up once: under overload refusals are most requests)."""
        key = (model, route, status, kind)
        series = self._refusals.get(key)
        if series is None:
            series = self._refusals[key] = (self.rejects.labels(model, kind), self.requests.labels(model, route, str(status)))
        series[0].inc()
        series[1].inc()

    def serving(self, model: str, *labels: str) -> None:
        """hailo_sidecar_model_info: `model` now serves the release `labels` describe (its earlier series goes)."""
        if model in self._info_labels:
            self.model_info.remove(model, *self._info_labels[model])
        self._info_labels[model] = labels
        self.model_info.labels(model, *labels).set(1)

    def not_serving(self, model: str) -> None:
        """`model` was removed: its hailo_sidecar_model_info series goes (its counters stay: what it answered)."""
        labels = self._info_labels.pop(model, None)
        if labels is not None:
            self.model_info.remove(model, *labels)

    def track_input(self, verdicts: Callable[[], Iterable[tuple[str, Verdict]]]) -> None:
        """The input guard's verdicts, (model, verdict) per serving model with a guard, asked at each scrape."""
        self._input.verdicts = verdicts

    def track_capture(self, state: Callable[[], dict[str, dict[str, Any]]]) -> None:
        """The capture's counts per model (Captures.state), asked at each scrape."""
        self._capture.state = state

    def track_queue(self, depth: Callable[[], int]) -> None:
        self.queue_depth.set_function(depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _InputVerdicts(Collector):
    """hailo_sidecar_input_*: the input guard's verdict per model and channel, as of the scrape."""

    def __init__(self) -> None:
        self.verdicts: Callable[[], Iterable[tuple[str, Verdict]]] = lambda: ()

    def collect(self) -> Iterator[Metric]:
        model, channel = ["model"], ["model", "channel"]
        guarded = GaugeMetricFamily(
            "hailo_sidecar_input_guarded", "1 when the serving release's bundle has a calibration envelope to judge input by", labels=model
        )
        windows = GaugeMetricFamily(
            "hailo_sidecar_input_windows", "answered windows the input guard's verdict covers (its last one to two periods)", labels=model
        )
        outside = GaugeMetricFamily(
            "hailo_sidecar_input_outside_share", "share of windows with a value beyond the calibration envelope", labels=channel
        )
        scale = GaugeMetricFamily(
            "hailo_sidecar_input_scale", "the channel's RMS over the calibration's, in the model's units (1: alike)", labels=channel
        )
        mismatch = GaugeMetricFamily(
            "hailo_sidecar_input_unit_mismatch",
            "1 when clients look like they send the channel in another unit than declared (`suggested`: that unit)",
            labels=[*channel, "suggested"],
        )
        verdicts = GaugeMetricFamily(
            "hailo_sidecar_input_verdict",
            f"1 for the channel's verdict, 0 for the others ({', '.join(VERDICTS)})",
            labels=[*channel, "verdict"],
        )
        for name, verdict in self.verdicts():
            guarded.add_metric([name], 1 if verdict.envelope else 0)
            windows.add_metric([name], verdict.windows)
            for c in verdict.channels:
                outside.add_metric([name, c.channel], c.outside_share)
                scale.add_metric([name, c.channel], c.scale)
                mismatch.add_metric([name, c.channel, c.unit_suggestion or ""], 1 if c.verdict == "unit_mismatch" else 0)
                for judged in VERDICTS:
                    verdicts.add_metric([name, c.channel, judged], 1 if c.verdict == judged else 0)
        yield from (guarded, windows, outside, scale, mismatch, verdicts)


class _CaptureCounts(Collector):
    """hailo_sidecar_capture_*: per model, the windows the capture keeps and has taken since start."""

    def __init__(self) -> None:
        self.state: Callable[[], dict[str, dict[str, Any]]] = lambda: {}

    def collect(self) -> Iterator[Metric]:
        kept = GaugeMetricFamily("hailo_sidecar_capture_windows", "client windows the capture keeps (CAPTURE_DIR)", labels=["model"])
        taken = CounterMetricFamily("hailo_sidecar_capture_taken", "client windows the capture took since start", labels=["model"])
        stopped = GaugeMetricFamily("hailo_sidecar_capture_stopped", "1 when a failure stopped the model's capture", labels=["model"])
        for model, counts in self.state().items():
            kept.add_metric([model], counts["kept"])
            taken.add_metric([model], counts["taken"])
            stopped.add_metric([model], 1 if counts["stopped"] else 0)
        yield from (kept, taken, stopped)
