"""Challenger rollout in the API: shadow scoring or a canary split, by `ROLLOUT_MODE`.

The challenger (CHALLENGER_ALIAS) is held by a second `ModelStore`, so it is found, loaded,
validated, refused, backed off and hot-reloaded exactly like the champion; when its alias is
removed the store drops it and the champion answers everything again.

- `canary`: a sticky split. The request key (`X-Request-Key`, else the texts) is hashed to one
  of 10,000 buckets; buckets below CANARY_PERCENT x 100 go to the challenger, so a key always
  gets the same variant and the share converges on CANARY_PERCENT.
- `shadow`: the champion answers; each text goes to a bounded queue (dropped and counted when
  full, never waited for) that one thread scores with the challenger in batches, comparing
  labels with the champion's. The response is the champion's, untouched.

Per-variant class balance and latency, shadow agreement and drops go to `/metrics`; answers
and shadow scores go to the prediction log with their variant.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sentiment_mlops.core.labels import LABEL_NAMES, NEGATIVE, POSITIVE
from sentiment_mlops.monitoring.prediction_log import Answered, PredictionLog
from sentiment_mlops.serving.model_store import ModelStore
from sentiment_mlops.serving.served_model import ServedModel
from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
KEY_HEADER = "x-request-key"
_BUCKETS = 10_000
# Texts the shadow thread scores in one call (about 1 ms for 1,000-character reviews): the
# request path waits for the GIL at most that long, instead of Python's 5 ms switch interval.
_SHADOW_BATCH = 4
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def canary_bucket(key: bytes) -> int:
    """The key's bucket in [0, 10,000): a stable hash, the same in every process and run."""
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") % _BUCKETS


def request_key(headers: Mapping[str, str], texts: list[str]) -> bytes:
    """`X-Request-Key` when the client sends one, else the texts themselves."""
    given = headers.get(KEY_HEADER)
    if given:
        return given.encode()
    return "\x00".join(texts).encode("utf-8", "surrogatepass")


class _ShadowItem(NamedTuple):
    text: str
    champion_label: str
    created_at: float  # the champion's row has the same, so the report can pair them
    logged: bool  # the champion's answer is in the prediction log


class Rollout:
    """The challenger's store, the canary choice and the shadow scorer of one app."""

    def __init__(
        self, settings: Settings, registry: CollectorRegistry, log: PredictionLog | None
    ) -> None:
        self.settings = settings
        self.mode = settings.rollout_mode
        self.store = ModelStore(settings, alias=settings.challenger_alias)
        self._log = log
        self._threshold = round(settings.canary_percent * _BUCKETS / 100)
        self._queue: queue.Queue[_ShadowItem] = queue.Queue(maxsize=settings.shadow_queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0  # event loop only
        self.predictions = Counter(
            "sentiment_rollout_predictions",
            "Texts classified per variant (shadow scores included), by predicted class.",
            ["variant", "sentiment"],
            registry=registry,
        )
        self.latency = Histogram(
            "sentiment_rollout_prediction_seconds",
            "Per variant: request arrival to prediction (a shadow batch: its scoring time).",
            ["variant"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.compared = Counter(
            "sentiment_shadow_comparisons",
            "Texts scored by both variants in shadow mode, by whether their labels agree.",
            ["agreement"],
            registry=registry,
        )
        registry.register(_RolloutCollector(self))

    @property
    def active(self) -> bool:
        return self.mode != "off"

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if not self.active:
            return
        self.store.start()
        if self.mode == "shadow":
            self._thread = threading.Thread(target=self._score, name="shadow", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.store.stop()
        if self._thread is not None:
            self._thread.join(5.0)

    def request_check(self) -> None:
        """A webhook said the challenger alias moved: check it now."""
        if self.active:
            self.store.request_check()

    # --- the request path -----------------------------------------------------------------
    def choose(
        self, champion: ServedModel, headers: Mapping[str, str], texts: list[str]
    ) -> tuple[ServedModel, str]:
        """The model that answers this request, and its variant."""
        if self.mode != "canary" or self._threshold == 0:
            return champion, CHAMPION
        challenger = self.store.current
        if challenger is None or challenger.version == champion.version:
            return champion, CHAMPION
        if canary_bucket(request_key(headers, texts)) < self._threshold:
            return challenger, CHALLENGER
        return champion, CHAMPION

    def observe(
        self,
        variant: str,
        texts: list[str],
        results: list[dict[str, Any]],
        started: float,
        created_at: float,
    ) -> None:
        """Count the answer per variant and, in shadow mode, queue its texts for the challenger.

        Never waits: a full queue drops the texts (counted)."""
        if not self.active:
            return
        self.latency.labels(variant).observe(time.perf_counter() - started)
        _count(self.predictions, variant, (r["sentiment"] for r in results))
        if self.mode != "shadow" or self.store.current is None:
            return
        for text, result in zip(texts, results, strict=True):
            item = _ShadowItem(text, result["sentiment"], created_at, bool(result["prediction_id"]))
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self.dropped += 1

    # --- the shadow thread ----------------------------------------------------------------
    def _score(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._queue.get(timeout=0.5)]
            except queue.Empty:
                continue
            while len(batch) < _SHADOW_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._score_batch(batch)
            except Exception:  # a bug must not end shadow scoring for good
                logger.exception("shadow scoring failed for %d texts", len(batch))
            time.sleep(0)  # give the GIL to the request path between batches

    def _score_batch(self, batch: list[_ShadowItem]) -> None:
        challenger = self.store.current
        if challenger is None:  # withdrawn meanwhile
            return
        started = time.perf_counter()
        results = challenger.predict([item.text for item in batch])
        seconds = time.perf_counter() - started
        self.latency.labels(CHALLENGER).observe(seconds)
        labels = [r["sentiment"] for r in results]
        _count(self.predictions, CHALLENGER, labels)
        pairs = zip(batch, labels, strict=True)
        agreed = sum(item.champion_label == label for item, label in pairs)
        if agreed:
            self.compared.labels("agree").inc(agreed)
        if len(batch) - agreed:
            self.compared.labels("disagree").inc(len(batch) - agreed)
        if self._log is not None:
            self._log_scores(challenger, batch, results, seconds * 1000 / len(batch))

    def _log_scores(
        self,
        challenger: ServedModel,
        batch: list[_ShadowItem],
        results: list[dict[str, Any]],
        latency_ms: float,
    ) -> None:
        assert self._log is not None
        name, version = challenger.ref.name, challenger.version
        for item, result in zip(batch, results, strict=True):
            if not item.logged:  # sampled out or dropped: nothing to pair it with
                continue
            probabilities = result["probabilities"]
            self._log.submit(
                Answered(
                    os.urandom(16).hex(), item.created_at, name, version, item.text,
                    probabilities[LABEL_NAMES[NEGATIVE]], probabilities[LABEL_NAMES[POSITIVE]],
                    result["sentiment"], latency_ms, "shadow", CHALLENGER,
                )
            )  # fmt: skip


def _count(counter: Counter, variant: str, labels: Iterable[str]) -> None:
    totals: dict[str, int] = {}
    for label in labels:
        totals[label] = totals.get(label, 0) + 1
    for label, count in totals.items():
        counter.labels(variant, label).inc(count)


class _RolloutCollector(Collector):
    """The mode, the challenger served and the shadow queue, read when scraped."""

    def __init__(self, rollout: Rollout) -> None:
        self._rollout = rollout

    def collect(self) -> Iterable[Any]:
        rollout = self._rollout
        served = rollout.store.current
        mode = GaugeMetricFamily(
            "sentiment_rollout_mode", "The rollout mode (value 1).", labels=["mode"]
        )
        mode.add_metric([rollout.mode], 1)
        yield mode
        yield GaugeMetricFamily(
            "sentiment_challenger_version",
            "The challenger version served (0 while none is).",
            value=float(served.version) if served else 0.0,
        )
        failures = CounterMetricFamily(
            "sentiment_challenger_reload_failures",
            "Failed challenger alias lookups, loads and validations.",
            labels=["stage"],
        )
        for stage, count in rollout.store.stats.failures.items():
            failures.add_metric([stage], count)
        yield failures
        yield CounterMetricFamily(
            "sentiment_shadow_dropped",
            "Texts not shadow-scored because the shadow queue was full.",
            value=rollout.dropped,
        )
        yield GaugeMetricFamily(
            "sentiment_shadow_queue_depth",
            "Texts waiting for the shadow scorer.",
            value=rollout._queue.qsize(),
        )
