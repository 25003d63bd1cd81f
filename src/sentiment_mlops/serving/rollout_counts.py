"""The rollout's per-variant numbers, kept as plain numbers on the event loop and exported as
Prometheus metrics when `/metrics` is scraped.

Every canary and shadow request adds to them. prometheus_client's `Counter.inc` and
`Histogram.observe` take a lock and walk several Python calls each: about as much as the rest
of the rollout's work per request together. Here a request costs a few list and dict updates;
the metric families (the same names, labels and help as before) are built per scrape.

Written on the event loop only; a scrape (in a worker thread) reads numbers that a request may
be updating, as prometheus_client's own readers do: each number is read whole, and a histogram's
count is the sum of its buckets, so the two always agree.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from sentiment_mlops.core.labels import LABEL_NAMES

CHAMPION, CHALLENGER = "champion", "challenger"
VARIANTS = (CHAMPION, CHALLENGER)
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Latency:
    """One variant's latency histogram: a count per bucket (the last one +Inf) and the sum."""

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        # A bucket holds the values up to and including its bound, as Prometheus counts `le`.
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        bounds = [*map(floatToGoString, LATENCY_BUCKETS), "+Inf"]
        running, buckets = 0, []
        for bound, count in zip(bounds, list(self.counts), strict=True):
            running += count
            buckets.append((bound, float(running)))
        return buckets


class RolloutCounts:
    """Texts per variant and class, latency per variant, and shadow agreement."""

    def __init__(self) -> None:
        self.created = time.time()
        self.predicted: dict[tuple[str, str], int] = {
            (v, name): 0 for v in VARIANTS for name in LABEL_NAMES.values()
        }
        self.latency = {v: _Latency() for v in VARIANTS}
        self.agreement = {"agree": 0, "disagree": 0}

    def answered(self, variant: str, seconds: float, labels: Iterable[str]) -> None:
        """One request's answer: its latency and the class of each of its texts."""
        self.latency[variant].observe(seconds)
        predicted = self.predicted
        for label in labels:
            predicted[variant, label] += 1

    def shadow_scored(
        self, seconds: Iterable[float], labels: dict[str, int], texts: int, agreed: int
    ) -> None:
        """One batch of shadow scores from the scorer process, counted there."""
        latency = self.latency[CHALLENGER]
        for value in seconds:
            latency.observe(value)
        for label, count in labels.items():
            self.predicted[CHALLENGER, label] += count
        self.agreement["agree"] += agreed
        self.agreement["disagree"] += texts - agreed

    def collect(self) -> Iterator[Any]:
        """The metric families, as `Counter` and `Histogram` children exported them."""
        predictions = CounterMetricFamily(
            "sentiment_rollout_predictions",
            "Texts classified per variant (shadow scores included), by predicted class.",
            labels=["variant", "sentiment"],
        )
        for (variant, label), count in list(self.predicted.items()):
            predictions.add_metric([variant, label], count, created=self.created)
        yield predictions
        latency = HistogramMetricFamily(
            "sentiment_rollout_prediction_seconds",
            "Per variant: request arrival to prediction (a shadow batch: its scoring time).",
            labels=["variant"],
        )
        for variant, histogram in self.latency.items():
            latency.add_metric([variant], histogram.cumulative(), histogram.total)
        yield latency
        compared = CounterMetricFamily(
            "sentiment_shadow_comparisons",
            "Texts scored by both variants in shadow mode, by whether their labels agree.",
            labels=["agreement"],
        )
        for agreement, count in list(self.agreement.items()):
            compared.add_metric([agreement], count, created=self.created)
        yield compared
