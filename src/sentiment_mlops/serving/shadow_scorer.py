"""The shadow scorer: a child process that scores shadow texts with the challenger.

In the serving process, challenger scoring held the GIL for a millisecond per call and pushed
the champion's p99 up (bench/README.md "Challenger rollout"). Here it runs in its own process at
idle priority (`SCHED_IDLE`, else nice 19), so it only uses CPU the champion leaves unused: on
a saturated machine shadow scoring falls behind and drops texts (counted), by design.

- The parent sends the challenger's `ModelRef` whenever its store swaps (the store stays the one
  place that finds, validates and refuses versions); the child loads that version the way the
  store does (`registry.load_model`) and checks it with the same probe texts.
- Texts go over a multiprocessing queue. The parent never waits: it keeps the texts it sent in
  a deque bounded by SHADOW_QUEUE_SIZE and drops (and counts) what does not fit.
- The child scores in batches, in order, and sends back one compact tuple per text; the parent
  pairs them with its deque (same order) and folds them into the metrics and prediction log.
- A child that dies is started again (after a backoff); the texts it held are counted as lost.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from sentiment_mlops.settings import Settings

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from sentiment_mlops.registry import ModelRef
    from sentiment_mlops.serving.served_model import ServedModel

logger = logging.getLogger(__name__)

# Texts the child scores in one call: a call's fixed cost (about 1 ms) is paid once per batch.
_BATCH = 64
_MAX_RESTART_BACKOFF = 30.0


class ShadowItem(NamedTuple):
    text: str
    champion_label: str
    created_at: float  # the champion's row has the same, so the report can pair them
    logged: bool  # the champion's answer is in the prediction log


class Score(NamedTuple):
    """The challenger's answer to one text (a batch without a version was not scored)."""

    label: str
    p_negative: float
    p_positive: float


@dataclass
class ScoredBatch:
    """One batch back from the child, paired with the parent's items."""

    version: str | None
    seconds: float
    items: list[ShadowItem]
    scores: list[Score]


@dataclass
class _Channel:
    """One child and its queues; replaced as a whole when the child is restarted."""

    process: BaseProcess
    texts: Any  # multiprocessing queue: ("model", ref) or ("text", str)
    results: Any  # multiprocessing queue: (version, seconds, [Score tuples])
    sent: collections.deque[ShadowItem] = field(default_factory=collections.deque)
    model: ServedModel | None = None  # the snapshot whose ref the child was sent last


class ShadowScorer:
    """Starts, feeds, watches and restarts the scoring child; `on_batch` runs in its thread."""

    def __init__(
        self, settings: Settings, capacity: int, on_batch: Callable[[ScoredBatch], None]
    ) -> None:
        self._settings = settings
        self._capacity = capacity
        self._on_batch = on_batch
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._channel: _Channel | None = None
        self._stopping = False
        self.restarts = 0  # children started again after one died
        self.lost = 0  # texts sent to a child that died before scoring them

    @property
    def pid(self) -> int | None:
        channel = self._channel
        return channel.process.pid if channel else None

    @property
    def up(self) -> bool:
        channel = self._channel
        return channel is not None and channel.process.is_alive()

    @property
    def waiting(self) -> int:
        channel = self._channel
        return len(channel.sent) if channel else 0

    def start(self) -> None:
        self._channel = self._spawn()

    def stop(self) -> None:
        self._stopping = True
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.texts.cancel_join_thread()  # the child may be gone: never hang at exit
            channel.process.terminate()
            channel.process.join(5.0)

    def submit(self, challenger: ServedModel, items: list[ShadowItem]) -> int:
        """Send texts to the child without waiting; returns how many were dropped (no room)."""
        channel = self._channel
        if channel is None:
            return len(items)
        if channel.model is not challenger:  # the store swapped: the child loads that version
            channel.model = challenger
            channel.texts.put_nowait(("model", challenger.ref))
        room = self._capacity - len(channel.sent)
        for item in items[: max(room, 0)]:
            channel.sent.append(item)
            channel.texts.put_nowait(("text", item.text))
        return max(len(items) - room, 0)

    # --- the parent's results thread --------------------------------------------------------
    def run_results(self, stop: Callable[[], bool]) -> None:
        """Fold the child's results until `stop()`; restart the child when it dies."""
        backoff = 1.0
        while not stop():
            channel = self._channel
            if channel is None:
                return
            try:
                version, seconds, scores = channel.results.get(timeout=0.5)
            except (queue.Empty, EOFError, OSError) as error:
                if not isinstance(error, queue.Empty):  # a broken pipe: start afresh
                    channel.process.terminate()
                    channel.process.join(5.0)
                if not channel.process.is_alive() and not self._stopping:
                    backoff = self._restart(channel, backoff)
                continue
            backoff = 1.0
            items = [channel.sent.popleft() for _ in scores]
            try:
                self._on_batch(ScoredBatch(version, seconds, items, [Score(*s) for s in scores]))
            except Exception:  # a bug must not end shadow scoring for good
                logger.exception("folding %d shadow scores failed", len(items))

    def _restart(self, dead: _Channel, backoff: float) -> float:
        self.lost += len(dead.sent)
        dead.texts.cancel_join_thread()
        dead.texts.close()
        dead.results.close()
        logger.warning(
            "shadow scorer (pid %s) exited with %s; %d texts lost; restarting in %.0f s",
            dead.process.pid, dead.process.exitcode, len(dead.sent), backoff,
        )  # fmt: skip
        time.sleep(backoff)
        if self._stopping:
            return backoff
        self._channel = self._spawn()
        self.restarts += 1
        return min(backoff * 2, _MAX_RESTART_BACKOFF)

    def _spawn(self) -> _Channel:
        texts, results = self._context.Queue(), self._context.Queue()
        process = self._context.Process(
            target=run_child,
            args=(self._settings, texts, results, os.getpid()),
            name="shadow-scorer",
            daemon=True,
        )
        process.start()
        return _Channel(process, texts, results)


# --- the child process ----------------------------------------------------------------------
def run_child(settings: Settings, texts: Any, results: Any, parent: int) -> None:
    """The child's main loop: load what it is told and score in batches, at idle priority once
    the first model is in (imports and that load are a start-up cost, like the parent's)."""
    model: ServedModel | None = None
    idle = False
    while os.getppid() == parent:  # the server is gone (even killed): so is its scorer
        try:
            first = texts.get(timeout=1.0)
        except queue.Empty:
            continue
        batch: list[str] = []
        for kind, payload in _drain(texts, first):
            if kind == "model":  # texts before it were sent for the old model
                _score(model, batch, results)
                batch = []
                model = _load(settings, payload)
                if not idle:
                    idle = _lower_priority()
            else:
                batch.append(payload)
        _score(model, batch, results)


def _drain(texts: Any, first: tuple[str, Any]) -> list[tuple[str, Any]]:
    messages = [first]
    while sum(kind == "text" for kind, _ in messages) < _BATCH:
        try:
            messages.append(texts.get_nowait())
        except queue.Empty:
            break
    return messages


def _lower_priority() -> bool:
    """SCHED_IDLE: run only on CPU nobody else wants; nice 19 where that is not allowed."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)
    return True


def _load(settings: Settings, ref: ModelRef) -> ServedModel | None:
    """The version the parent's store validated, loaded as the store loads it."""
    from datetime import UTC, datetime

    from sentiment_mlops import registry
    from sentiment_mlops.serving.served_model import ServedModel, validate_model

    try:
        model = registry.load_model(registry.make_client(settings), ref)
        return ServedModel(model, ref, validate_model(model), {}, datetime.now(UTC))
    except Exception:  # the parent counts its texts as unscored; the next swap tries again
        logger.exception("shadow scorer could not load version %s", ref.version)
        return None


def _score(model: ServedModel | None, batch: list[str], results: Any) -> None:
    if not batch:
        return
    if model is None:
        results.put((None, 0.0, [("", 0.0, 0.0)] * len(batch)))
        return
    from sentiment_mlops.core.labels import LABEL_NAMES, NEGATIVE, POSITIVE

    negative, positive = LABEL_NAMES[NEGATIVE], LABEL_NAMES[POSITIVE]
    started = time.perf_counter()
    scored = model.predict(batch)
    seconds = time.perf_counter() - started
    scores = [
        (r["sentiment"], r["probabilities"][negative], r["probabilities"][positive]) for r in scored
    ]
    results.put((model.version, seconds, scores))
