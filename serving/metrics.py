"""Prometheus metrics: request counts and latencies by route, status and model version (one registry per app)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("carealloc_http_requests", "HTTP requests handled",
                                ("method", "route", "status", "model_version"), registry=self.registry)
        self.latency = Histogram("carealloc_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ("method", "route", "model_version"), buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.model = Gauge("carealloc_model_info", "The loaded champion bundle (value 1)",
                           ("model_version", "source"), registry=self.registry)

    def observe(self, method: str, route: str, status: int, model_version: str, seconds: float) -> None:
        self.requests.labels(method, route, str(status), model_version).inc()
        self.latency.labels(method, route, model_version).observe(seconds)

    def loaded(self, model_version: str, source: str) -> None:
        self.model.clear()
        self.model.labels(model_version, source).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
