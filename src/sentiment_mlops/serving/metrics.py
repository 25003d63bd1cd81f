"""Prometheus metrics: requests and latency by endpoint and status, predictions by class, and the
served model's version, reloads and reload failures (read from the store at scrape time), and
the prediction log's counters with live accuracy (`log_metrics`).

A client that disconnects before its request is read counts under status 499, as nginx logs it.

Each app has its own registry, so several apps in one process (tests) do not collide. With
several uvicorn workers each worker keeps its own numbers and a scrape reaches one of them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentiment_mlops.core.labels import LABEL_NAMES, NEGATIVE, POSITIVE
from sentiment_mlops.monitoring.prediction_log import PredictionLog
from sentiment_mlops.serving.log_metrics import PredictionLogCollector
from sentiment_mlops.serving.model_store import ModelStore

logger = logging.getLogger(__name__)

# The status nginx logs for a client that closed the connection before the answer.
CLIENT_CLOSED_REQUEST = 499
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ServingMetrics:
    """The app's metrics and its registry."""

    def __init__(self, store: ModelStore, prediction_log: PredictionLog | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sentiment_http_requests",
            "HTTP requests by method, route and status code.",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sentiment_http_request_duration_seconds",
            "Time from request to the end of the response, by method and route.",
            ["method", "endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "sentiment_predictions",
            "Texts classified, by predicted class.",
            ["sentiment"],
            registry=self.registry,
        )
        # Children looked up once: `.labels()` takes a lock and hashes its labels on every call,
        # three times per request otherwise. The request keys are bounded as the label sets are
        # (route templates, the methods the HTTP parser accepts, status codes).
        self._predicted = {name: self.predictions.labels(name) for name in LABEL_NAMES.values()}
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[tuple[str, str], Any] = {}
        ProcessCollector(registry=self.registry)
        self.registry.register(_StoreCollector(store))
        if prediction_log is not None:
            window = store.settings.feedback_window
            self.registry.register(PredictionLogCollector(prediction_log, window))

    def count_predictions(self, results: list[dict[str, Any]]) -> None:
        negative_name, positive_name = LABEL_NAMES[NEGATIVE], LABEL_NAMES[POSITIVE]
        positive = sum(1 for r in results if r["sentiment"] == positive_name)
        if positive:
            self._predicted[positive_name].inc(positive)
        if len(results) - positive:
            self._predicted[negative_name].inc(len(results) - positive)

    def count_request(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        """One answered request: its count by status and its latency."""
        counter = self._requests.get((method, endpoint, status))
        if counter is None:
            counter = self.requests.labels(method, endpoint, str(status))
            self._requests[method, endpoint, status] = counter
        counter.inc()
        latency = self._latency.get((method, endpoint))
        if latency is None:
            latency = self._latency[method, endpoint] = self.latency.labels(method, endpoint)
        latency.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _StoreCollector(Collector):
    """Model gauges and reload counters, read from the store when scraped."""

    def __init__(self, store: ModelStore) -> None:
        self._store = store

    def collect(self) -> Iterable[Any]:
        store, stats = self._store, self._store.stats
        served = store.current
        info = GaugeMetricFamily(
            "sentiment_model_info",
            "The served model version (value 1), labelled by name, alias and version.",
            labels=["name", "alias", "version"],
        )
        if served is not None:
            info.add_metric([served.ref.name, store.settings.model_alias, served.version], 1)
        yield info
        yield GaugeMetricFamily(
            "sentiment_model_version",
            "The served model version number (0 while no model is loaded).",
            value=float(served.version) if served else 0.0,
        )
        yield GaugeMetricFamily(
            "sentiment_model_loaded", "1 when a model is served.", value=float(bool(served))
        )
        yield CounterMetricFamily(
            "sentiment_model_reloads", "Models loaded and swapped in.", value=stats.reloads
        )
        failures = CounterMetricFamily(
            "sentiment_model_reload_failures",
            "Failed alias lookups, loads and validations.",
            labels=["stage"],
        )
        for stage, count in stats.failures.items():
            failures.add_metric([stage], count)
        yield failures
        yield GaugeMetricFamily(
            "sentiment_model_refused_versions",
            "Versions refused (failed to load or validate) and not served.",
            value=len(store.refused_versions),
        )
        last = stats.last_failure
        yield GaugeMetricFamily(
            "sentiment_model_last_reload_failure_timestamp_seconds",
            "When the last reload failure happened (0 if none).",
            value=last.at.timestamp() if last else 0.0,
        )


class RequestMetricsMiddleware:
    """Pure ASGI middleware counting requests and timing them by route template and status."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        except ClientDisconnect:
            # The client left before its body arrived: nothing to answer and nothing broken. One
            # line instead of a traceback, and its own status, so it is not counted as a 500.
            status = CLIENT_CLOSED_REQUEST
            logger.info("client disconnected during %s %r", scope["method"], scope["path"])
        finally:
            route = scope.get("route")
            # Route templates only: raw paths of unknown URLs would make unbounded label sets.
            endpoint = getattr(route, "path", None) or "unmatched"
            seconds = time.perf_counter() - started
            self.metrics.count_request(scope["method"], endpoint, status, seconds)
