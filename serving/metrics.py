"""Prometheus metrics: request counts and latencies by route, status and model version (one registry per app), and
the figures of the latest quarterly review (read from the outcomes database at each scrape: reviews run as
`carealloc review`, another process, so the service has no counter of its own to move)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError

from records.reviews import ReviewLog
from serving.logs import logger

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
        self._reviews: LatestReview | None = None

    def observe(self, method: str, route: str, status: int, model_version: str, seconds: float) -> None:
        self.requests.labels(method, route, str(status), model_version).inc()
        self.latency.labels(method, route, model_version).observe(seconds)

    def loaded(self, model_version: str, source: str) -> None:
        self.model.clear()
        self.model.labels(model_version, source).set(1)

    def watch_reviews(self, reviews: ReviewLog) -> None:
        """Show `reviews`' latest figures (replacing the store of an earlier lifespan of the same app)."""
        if self._reviews is not None:
            self.registry.unregister(self._reviews)
        self._reviews = LatestReview(reviews)
        self.registry.register(self._reviews)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class LatestReview:
    """carealloc_review_figure{period, name}: alert counts by kind, the share of programmes whose outcome fell
    inside the plan's interval, actual minus forecast and the plan's gain, as the latest review computed them."""

    def __init__(self, reviews: ReviewLog):
        self.reviews = reviews

    def describe(self) -> list[Metric]:
        return []  # nothing read at registration; the families appear once a review exists

    def collect(self) -> Iterator[Metric]:
        try:
            latest = self.reviews.latest()
        except SQLAlchemyError as exc:  # the scrape still answers with the request metrics
            logger().warning("review figures unavailable", extra={"event": "metrics", "error_type":
                                                                  type(exc).__name__})
            return
        if latest is None:
            return
        figures = GaugeMetricFamily("carealloc_review_figure", "Figures of the latest quarterly review",
                                    labels=("period", "name"))
        for name, value in sorted(latest.figures.items()):
            figures.add_metric((latest.period, name), value)
        yield figures
        yield GaugeMetricFamily("carealloc_review_timestamp_seconds", "When the latest review ran (Unix time)",
                                value=latest.reviewed_at.timestamp())
