"""Prometheus metrics of the prediction log and of live accuracy, read when scraped.

The counters say what happened to every answered prediction: written, dropped (queue full, or
unwritten at shutdown), left out by sampling; `write_errors` counts failed inserts (each retried).
So in a quiet moment `answered = written + dropped + sampled_out + queue depth`. Live accuracy is
computed by the store at each scrape; while the store is unreachable it is left out.

The latest drift check of each model version (`sentiment monitor`, the monitoring flow) is read
from the same store's `drift_checks` table: one indexed query per scrape, no MLflow call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from sentiment_mlops.monitoring.feedback import StoreUnavailableError, live_accuracy
from sentiment_mlops.monitoring.prediction_log import PredictionLog
from sentiment_mlops.monitoring.window import latest_checks

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
        yield from self._drift()

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

    def _drift(self) -> Iterable[Any]:
        try:
            checks = latest_checks(self._log.engine)
        except SQLAlchemyError:  # unreachable, or no check has run yet (no table)
            logger.debug("drift gauges left out of /metrics: no drift check in the log store")
            return
        gauges = {
            name: GaugeMetricFamily(f"sentiment_{name}", text, labels=["name", "version"])
            for name, text in (
                ("drift_score", "Latest drift check: domain classifier ROC AUC (0.5: no drift)."),
                ("drift_detected", "Latest drift check: 1 when its verdict was drift."),
                ("drifted_descriptors", "Latest drift check: text descriptors that drifted."),
                ("retrain_due", "Latest drift check: 1 when it called for retraining."),
                ("window_positive_share", "Latest drift check: share of positive answers."),
                ("drift_window_rows", "Latest drift check: served predictions compared."),
                ("drift_check_timestamp_seconds", "When the latest drift check ran."),
            )
        }
        for check in checks:
            labels = [check.model_name, check.model_version]
            values = {
                "drift_score": check.drift_score,
                "drift_detected": float(check.verdict == "drift"),
                "drifted_descriptors": float(check.drifted_descriptors),
                "retrain_due": float(check.retrain),
                "window_positive_share": check.positive_share,
                "drift_window_rows": float(check.window_rows),
                "drift_check_timestamp_seconds": (
                    check.checked_at.timestamp() if check.checked_at else None
                ),
            }
            for name, value in values.items():
                if value is not None:
                    gauges[name].add_metric(labels, value)
        yield from gauges.values()
