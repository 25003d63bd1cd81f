"""The prediction log: every answered prediction recorded off the request path.

The request path only samples, makes an id and calls `Queue.put_nowait`: when the queue is full
the record is dropped and counted, so a request never waits or fails because of logging. One
daemon thread drains the queue and writes batches with one `executemany` insert each. While the
store is down it keeps its batch and retries with backoff; records beyond the queue bound are
dropped (counted), and the writer catches up when the store returns. The same thread deletes
rows older than the retention period now and then.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import queue
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from sentiment_mlops.monitoring import tables
from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)

# Rows per insert; a bigger backlog is written in several inserts.
MAX_BATCH = 1000
_BACKOFF_FIRST, _BACKOFF_MAX = 0.25, 5.0
_LINGER_POLL = 0.05  # seconds between looks at the queue while gathering


@dataclass(frozen=True)
class LogOptions:
    """What to log and how much to hold, from the settings."""

    log_texts: bool = True
    sample_rate: float = 1.0
    queue_size: int = 10_000
    retention_days: float = 30.0
    retention_interval: float = 3600.0
    flush_interval: float = 0.5


class Answered(NamedTuple):
    """One answered prediction as the request path knows it; turned into a row by the writer.

    A named tuple: made once per prediction on the event loop, where a frozen dataclass costs
    several times as much."""

    id: str
    created_at: float  # time.time()
    model_name: str
    model_version: str
    text: str
    p_negative: float
    p_positive: float
    label: str
    latency_ms: float
    request_kind: str
    variant: str = "champion"  # or "challenger" (a canary answer, or a shadow score)


@dataclass
class LogCounters:
    """What happened to the records handed to the log, for /metrics.

    Each field has one writing thread (the event loop, or the writer), so no update is lost."""

    written: int = 0  # writer
    queue_full: int = 0  # event loop
    unwritten: int = 0  # writer: refused by the store, or still queued at shutdown
    sampled_out: int = 0  # event loop
    write_errors: int = 0  # writer

    @property
    def dropped(self) -> int:
        return self.queue_full + self.unwritten


class PredictionLog:
    """A bounded queue in front of the store, and the thread that writes it."""

    def __init__(self, engine: Engine, options: LogOptions) -> None:
        self.engine = engine
        self.options = options
        self.counters = LogCounters()
        # None: no record, the wake-up that `stop` puts for a writer waiting for a first one.
        self._queue: queue.Queue[Answered | None] = queue.Queue(maxsize=options.queue_size)
        self._accepted = itertools.count(1)
        self._last_accepted = 0  # records put on the queue so far
        self._done = 0  # records taken off the queue and written (or given up at stop)
        self._failing = False
        self._progress = threading.Condition()
        self._wake = threading.Event()  # a flush is waiting: skip the gathering pause
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._random = random.Random()

    # --- the request path -------------------------------------------------------------------
    def new_id(self) -> str | None:
        """An id for a prediction that will be logged, or None when sampling leaves it out.

        128 random bits in hex, as unguessable as a uuid4 and a fifth of its cost."""
        rate = self.options.sample_rate
        if rate < 1.0 and self._random.random() >= rate:
            self.counters.sampled_out += 1
            return None
        return os.urandom(16).hex()

    def submit(self, record: Answered) -> bool:
        """Hand a record to the writer without waiting; False (counted) when the queue is full."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.counters.queue_full += 1
            return False
        self._last_accepted = next(self._accepted)
        return True

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    # --- flushing, for feedback that follows a prediction at once --------------------------------
    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every record accepted before this call is written; False if the store
        failed meanwhile or the timeout passed."""
        target = self._last_accepted
        deadline = time.monotonic() + timeout
        with self._progress:
            while self._done < target:
                if self._failing or self._stop.is_set():
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.set()
                self._progress.wait(min(remaining, 0.1))
        return True

    # --- the writer thread ------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued (one attempt, within `timeout`), then stop the thread."""
        self._stop.set()
        self._wake.set()
        # A writer waiting for a first record wakes now, not at its next 0.5 s look (a full
        # queue: it is not waiting for one).
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        if self._thread is not None:
            self._thread.join(timeout)
        self.engine.dispose()

    def _run(self) -> None:
        ready = False
        batch: list[Answered] = []
        backoff = _BACKOFF_FIRST
        next_retention = 0.0
        while True:
            stopping = self._stop.is_set()
            if not batch:
                batch = self._gather(stopping)
            try:
                if not ready:
                    tables.create_tables(self.engine)
                    ready = True
                if batch:
                    self._write(batch)
                    batch = []
                if time.monotonic() >= next_retention:
                    self.delete_expired()
                    next_retention = time.monotonic() + self.options.retention_interval
            except SQLAlchemyError as error:
                self._failed(error)
                if stopping:
                    break
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            except Exception:
                # A bug, not an outage: drop the batch rather than retry it for ever, and keep
                # the thread alive for the next records.
                logger.exception("prediction log: %d records dropped", len(batch))
                self._given_up(batch)
                batch = []
                continue
            backoff = _BACKOFF_FIRST
            if stopping and not batch and self._queue.empty():
                break
        lost = len(batch) + sum(record is not None for record in self._drain())
        if lost:
            self.counters.unwritten += lost
            logger.warning("prediction log stopped with %d records unwritten", lost)

    def _gather(self, stopping: bool) -> list[Answered]:
        """Up to MAX_BATCH records: waits for a first one, then gathers (`_linger`)."""
        if not stopping:
            try:
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                return []
            if first is None:  # stop's wake-up
                return []
            self._linger()
            batch = [first]
        else:
            batch = []
        while len(batch) < MAX_BATCH:
            try:
                record = self._queue.get_nowait()
            except queue.Empty:
                break
            if record is not None:
                batch.append(record)
        return batch

    def _drain(self) -> list[Answered | None]:
        """What is left on the queue, taken off it."""
        left: list[Answered | None] = []
        while True:
            try:
                left.append(self._queue.get_nowait())
            except queue.Empty:
                return left

    def _linger(self) -> None:
        """Gather for the flush interval, but no longer than it takes to fill a batch or for a
        flush to ask: with a backlog the writer inserts back to back, so it keeps up with any
        steady rate the store can take."""
        deadline = time.monotonic() + self.options.flush_interval
        while self._queue.qsize() < MAX_BATCH - 1:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._wake.wait(min(remaining, _LINGER_POLL)):
                break
        self._wake.clear()

    def _write(self, batch: list[Answered]) -> None:
        """Insert the batch; a row the store refuses is dropped alone, never retried for ever.

        Connection errors propagate (the caller keeps the batch and retries); any other error
        means some row's values are refused, so the rows are tried one by one.
        """
        rows = [_row(record, self.options.log_texts) for record in batch]
        try:
            written = self._insert(rows)
        except (OperationalError, InterfaceError):
            raise
        except SQLAlchemyError as error:
            logger.warning(
                "prediction log refused a batch, writing it row by row: %s", _short(error)
            )
            written = 0
            for row in rows:
                try:
                    written += self._insert([row])
                except (OperationalError, InterfaceError):
                    raise
                except SQLAlchemyError:
                    self.counters.write_errors += 1
                    self.counters.unwritten += 1
        self.counters.written += written
        if self._failing:
            logger.info("prediction log store reachable again; %d records written", written)
        with self._progress:
            self._failing = False
            self._done += len(batch)
            self._progress.notify_all()

    def _insert(self, rows: list[dict[str, Any]]) -> int:
        with self.engine.begin() as connection:
            connection.execute(insert(tables.predictions), rows)
        return len(rows)

    def _given_up(self, batch: list[Answered]) -> None:
        self.counters.unwritten += len(batch)
        with self._progress:
            self._done += len(batch)
            self._progress.notify_all()

    def _failed(self, error: SQLAlchemyError) -> None:
        self.counters.write_errors += 1
        if not self._failing:
            # One line per outage, not one per retry; the SQL's values are hidden by the engine.
            logger.warning("prediction log store unavailable, retrying: %s", _short(error))
        with self._progress:
            self._failing = True
            self._progress.notify_all()

    def delete_expired(self) -> int:
        """Delete predictions (and their feedback) older than the retention period."""
        days = self.options.retention_days
        if days <= 0:
            return 0
        cutoff = datetime.now(UTC) - timedelta(days=days)
        old_ids = select(tables.predictions.c.id).where(tables.predictions.c.created_at < cutoff)
        with self.engine.begin() as connection:
            connection.execute(
                delete(tables.feedback).where(tables.feedback.c.prediction_id.in_(old_ids))
            )
            deleted = connection.execute(
                delete(tables.predictions).where(tables.predictions.c.created_at < cutoff)
            ).rowcount
        if deleted:
            logger.info("prediction log: deleted %d rows older than %g days", deleted, days)
        return deleted


def _row(record: Answered, log_texts: bool) -> dict[str, Any]:
    text = record.text
    return {
        "id": record.id,
        "created_at": datetime.fromtimestamp(record.created_at, UTC),
        "model_name": record.model_name,
        "model_version": record.model_version,
        "text": _storable(text) if log_texts else None,
        # The exact text is hashed; the stored copy may have NUL replaced (`_storable`).
        "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "text_length": len(text),
        "p_negative": record.p_negative,
        "p_positive": record.p_positive,
        "label": record.label,
        "latency_ms": record.latency_ms,
        "request_kind": record.request_kind,
        "variant": record.variant,
    }


def _storable(text: str) -> str:
    # PostgreSQL's text cannot hold NUL, which JSON allows ("\u0000").
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _short(error: BaseException) -> str:
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first[:300]}"


def open_prediction_log(settings: Settings) -> PredictionLog | None:
    """The log configured by the settings (not started), or None when PREDICTION_LOG_URL is off.

    Building the engine does not connect: an unreachable store delays only the writer.
    """
    if settings.prediction_log_url is None:
        return None
    options = LogOptions(
        log_texts=settings.log_texts,
        sample_rate=settings.prediction_log_sample_rate,
        queue_size=settings.prediction_log_queue_size,
        retention_days=settings.prediction_log_retention_days,
        retention_interval=settings.prediction_log_retention_interval,
        flush_interval=settings.prediction_log_flush_interval,
    )
    return PredictionLog(tables.make_engine(settings.prediction_log_url), options)
