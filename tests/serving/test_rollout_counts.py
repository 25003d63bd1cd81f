"""The rollout's per-variant numbers export as the Prometheus series they replaced."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from sentiment_mlops.serving.rollout_counts import RolloutCounts


class _Counts(Collector):
    def __init__(self, counts: RolloutCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Any]:
        return self._counts.collect()


def _samples(counts: RolloutCounts) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(_Counts(counts))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_counts_export_as_counters_and_histograms_with_prometheus_buckets() -> None:
    counts = RolloutCounts()
    counts.answered("champion", 0.001, ["positive", "negative", "positive"])  # on a bound
    counts.answered("challenger", 3.0, ["negative"])  # beyond the last bound
    counts.shadow_scored([0.0004, 0.02], {"positive": 5, "negative": 1}, texts=6, agreed=4)
    samples = _samples(counts)

    def predicted(variant: str, sentiment: str) -> float:
        labels = (("sentiment", sentiment), ("variant", variant))
        return samples["sentiment_rollout_predictions_total", labels]

    assert predicted("champion", "positive") == 2
    assert predicted("champion", "negative") == 1
    assert predicted("challenger", "positive") == 5
    assert predicted("challenger", "negative") == 2
    agreement = "sentiment_shadow_comparisons_total"
    assert samples[agreement, (("agreement", "agree"),)] == 4
    assert samples[agreement, (("agreement", "disagree"),)] == 2

    def bucket(variant: str, le: str) -> float:
        labels = (("le", le), ("variant", variant))
        return samples["sentiment_rollout_prediction_seconds_bucket", labels]

    # A value equal to a bound is counted in that bucket (`le`), as prometheus_client counts.
    assert bucket("champion", "0.0005") == 0 and bucket("champion", "0.001") == 1
    assert bucket("challenger", "0.0005") == 1 and bucket("challenger", "0.025") == 2
    assert bucket("challenger", "2.5") == 2 and bucket("challenger", "+Inf") == 3
    count = "sentiment_rollout_prediction_seconds_count"
    assert samples[count, (("variant", "challenger"),)] == 3
    total = samples["sentiment_rollout_prediction_seconds_sum", (("variant", "challenger"),)]
    assert abs(total - 3.0204) < 1e-9
