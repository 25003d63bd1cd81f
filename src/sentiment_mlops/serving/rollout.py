"""Challenger rollout in the API: shadow scoring or a canary split, by `ROLLOUT_MODE`.

The challenger (CHALLENGER_ALIAS) is held by a second `ModelStore`, so it is found, loaded,
validated, refused, backed off and hot-reloaded exactly like the champion; when its alias is
removed the store drops it and the champion answers everything again.

- `canary`: a sticky split. The request key (`X-Request-Key`, else the texts) is hashed to one
  of 10,000 buckets; buckets below CANARY_PERCENT x 100 go to the challenger, so a key always
  gets the same variant and the share converges on CANARY_PERCENT.
- `shadow`: the champion answers; each text goes to the shadow scorer, a child process at idle
  priority (`serving.shadow_scorer`; dropped and counted when it is behind, never waited for)
  that scores them with the challenger in batches and compares their labels with the
  champion's. Its counts come back on the event loop: shadow adds no thread to the server. The
  response is the champion's, untouched.

Per-variant class balance and latency, shadow agreement (`serving.rollout_counts`) and drops go
to `/metrics`; answers and shadow scores go to the prediction log with their variant.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sentiment_mlops.monitoring.prediction_log import Answered, PredictionLog
from sentiment_mlops.serving.model_store import ModelStore
from sentiment_mlops.serving.rollout_counts import CHALLENGER, CHAMPION, RolloutCounts
from sentiment_mlops.serving.served_model import ServedModel
from sentiment_mlops.serving.shadow_scorer import ScoredBatch, ShadowScorer
from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)

__all__ = ["CHALLENGER", "CHAMPION", "KEY_HEADER", "Rollout", "canary_bucket", "request_key"]

KEY_HEADER = "x-request-key"
_KEY_HEADER = KEY_HEADER.encode()  # as the ASGI scope spells header names: lower case, bytes
_BUCKETS = 10_000


def canary_bucket(key: bytes) -> int:
    """The key's bucket in [0, 10,000): a stable hash, the same in every process and run."""
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") % _BUCKETS


def request_key(headers: Iterable[tuple[bytes, bytes]], texts: list[str]) -> bytes:
    """`X-Request-Key` when the client sends one, else the texts themselves.

    `headers` are the ASGI scope's raw pairs: Starlette's `Headers` view would cost a request
    an object and, without the header, a raised and caught KeyError. The first value counts,
    read as Starlette reads it (Latin-1) and hashed as UTF-8, so a key keeps its bucket."""
    for name, value in headers:
        if name == _KEY_HEADER:
            if value:
                return value.decode("latin-1").encode()
            break
    return "\x00".join(texts).encode("utf-8", "surrogatepass")


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
        self.scorer = ShadowScorer(settings, settings.shadow_queue_size, self._fold)
        self.dropped = 0  # event loop only
        self.unscored = 0  # sent to the scorer while it had no challenger it could load
        self.counts = RolloutCounts()  # per variant, exported by the collector
        registry.register(_RolloutCollector(self))

    @property
    def active(self) -> bool:
        return self.mode != "off"

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """On the event loop (the app's lifespan): the shadow scorer's pipes are read there."""
        if not self.active:
            return
        self.store.start()
        if self.mode == "shadow":
            self.scorer.start()

    def stop(self) -> None:
        self.store.stop()
        self.scorer.stop()

    def request_check(self) -> None:
        """A webhook said the challenger alias moved: check it now."""
        if self.active:
            self.store.request_check()

    # --- the request path -----------------------------------------------------------------
    def choose(
        self, champion: ServedModel, headers: Iterable[tuple[bytes, bytes]], texts: list[str]
    ) -> tuple[ServedModel, str]:
        """The model that answers this request, and its variant (`headers`: the raw ASGI
        pairs, see `request_key`)."""
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

        Never waits: texts the scorer has no room for are dropped (counted)."""
        if not self.active:
            return
        self.counts.answered(
            variant, time.perf_counter() - started, [r["sentiment"] for r in results]
        )
        challenger = self.store.current
        if self.mode != "shadow" or challenger is None:
            return
        self.dropped += self.scorer.submit(challenger, texts, results, created_at)

    # --- shadow scores, on the event loop ---------------------------------------------------
    def _fold(self, batch: ScoredBatch) -> None:
        """Count what the scorer process sent back and log the scores of logged texts."""
        scored = batch.scored
        if scored.version is None:  # the scorer could not load the challenger
            self.unscored += scored.texts
            return
        self.counts.shadow_scored(scored.seconds, scored.labels, scored.texts, scored.agreed)
        if self._log is not None and batch.logged:
            self._log_scores(scored.version, sum(scored.seconds) / scored.texts, batch)

    def _log_scores(self, version: str, seconds: float, batch: ScoredBatch) -> None:
        assert self._log is not None
        name, latency_ms = self.settings.model_name, seconds * 1000
        for text, score in batch.logged:
            self._log.submit(
                Answered(
                    os.urandom(16).hex(), text.created_at, name, version, text.text,
                    score.p_negative, score.p_positive, score.label, latency_ms, "shadow",
                    CHALLENGER,
                )
            )  # fmt: skip


class _RolloutCollector(Collector):
    """The mode, the challenger served and the shadow queue, read when scraped."""

    def __init__(self, rollout: Rollout) -> None:
        self._rollout = rollout

    def collect(self) -> Iterable[Any]:
        rollout = self._rollout
        yield from rollout.counts.collect()
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
            "Texts not shadow-scored: the scorer was behind (queue or pipe full) or restarting.",
            value=rollout.dropped,
        )
        scorer = rollout.scorer
        yield GaugeMetricFamily(
            "sentiment_shadow_queue_depth",
            "Texts sent to the shadow scorer process and not scored yet.",
            value=scorer.waiting,
        )
        if rollout.mode != "shadow":
            return
        yield GaugeMetricFamily(
            "sentiment_shadow_scorer_up", "1 while the shadow scorer process runs.",
            value=float(scorer.up),
        )  # fmt: skip
        yield CounterMetricFamily(
            "sentiment_shadow_scorer_restarts",
            "Shadow scorer processes started again after one exited.",
            value=scorer.restarts,
        )
        yield CounterMetricFamily(
            "sentiment_shadow_lost",
            "Texts sent to the shadow scorer and never scored (it exited or could not load).",
            value=scorer.lost + rollout.unscored,
        )
