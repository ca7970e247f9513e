"""The sidecar's Prometheus metrics, on a registry of its own (one per app). Every series but the queue's
carries the model it concerns (`model`: the manifest name; EdgeInfer's /infer and the Open Inference
Protocol count alike, `route` tells them apart)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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

    def track_queue(self, depth: Callable[[], int]) -> None:
        self.queue_depth.set_function(depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)
