"""Prometheus metrics of the prediction log and of live accuracy, read when scraped.

The counters say what happened to every answered prediction: written, dropped (queue full, or
unwritten at shutdown), left out by sampling; `write_errors` counts failed inserts (each retried).
So in a quiet moment `answered = written + dropped + sampled_out + queue depth`. Live accuracy is
computed by the store at each scrape; while the store is unreachable it is left out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sentiment_mlops.monitoring.feedback import StoreUnavailableError, live_accuracy
from sentiment_mlops.monitoring.prediction_log import PredictionLog

logger = logging.getLogger(__name__)


class PredictionLogCollector(Collector):
    """The log's counters and queue depth, and live accuracy per model version."""

    def __init__(self, log: PredictionLog, window: int) -> None:
        self._log = log
        self._window = window

    def collect(self) -> Iterable[Any]:
        counters = self._log.counters
        for name, value, text in (
            ("written", counters.written, "Predictions written to the log store."),
            ("dropped", counters.dropped, "Predictions not logged: queue full or unwritable."),
            ("sampled_out", counters.sampled_out, "Predictions left out by the sampling rate."),
            ("write_errors", counters.write_errors, "Failed writes to the log store (retried)."),
        ):
            yield CounterMetricFamily(f"sentiment_prediction_log_{name}", text, value=value)
        yield GaugeMetricFamily(
            "sentiment_prediction_log_queue_depth",
            "Predictions waiting to be written.",
            value=self._log.depth,
        )
        yield from self._accuracy()

    def _accuracy(self) -> Iterable[Any]:
        try:
            found = live_accuracy(self._log.engine, self._window)
        except StoreUnavailableError:
            logger.debug("live accuracy left out of /metrics: the log store is unreachable")
            return
        accuracy = GaugeMetricFamily(
            "sentiment_live_accuracy",
            f"Accuracy over the last FEEDBACK_WINDOW={self._window} labelled predictions.",
            labels=["name", "version"],
        )
        labelled = GaugeMetricFamily(
            "sentiment_live_accuracy_labelled",
            "Labelled predictions in the live accuracy window.",
            labels=["name", "version"],
        )
        for entry in found:
            accuracy.add_metric([entry.model_name, entry.model_version], entry.accuracy)
            labelled.add_metric([entry.model_name, entry.model_version], entry.labelled)
        yield accuracy
        yield labelled
