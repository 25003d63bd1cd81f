"""Reload fan-out: one webhook delivery, and every replica checks its alias at once.

MLflow calls one URL per webhook, which behind a load balancer reaches one replica. With
RELOAD_NOTIFY_URL set to a PostgreSQL database, the replica that receives (and verifies) a
delivery checks at once and sends `pg_notify` on `CHANNEL` with the model, alias, version and
delivery id; every replica LISTENs on a connection of its own, in a thread, and asks the store
of that alias to check now. Delivery ids go into the webhook's own `SeenDeliveries`, so the
receiver, which has already asked, and a delivery MLflow retries to another replica, cause one
check each. PostgreSQL keeps no notification for a listener that is away, so after every
(re)connect the listener asks all its stores to check once; the poll (MODEL_RELOAD_INTERVAL)
stays the safety net for anything else.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi.concurrency import run_in_threadpool
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sentiment_mlops.serving.webhooks import SeenDeliveries
from sentiment_mlops.settings import Settings

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

CHANNEL = "sentiment_model_reload"
# How the listeners show in `pg_stat_activity` (operators, and the tests, find them by it).
LISTENER_NAME = "sentiment-reload-listener"
# The listener looks at its stop flag this often while no notification arrives.
_STOP_POLL = 1.0
# Reconnecting: after 0.5 s, 1 s, 2 s, ... up to this.
_MAX_BACKOFF = 5.0
_CONNECT_TIMEOUT = 5


@dataclass(frozen=True)
class ReloadNotice:
    """What one replica tells the others: this alias of this model moved (delivery id)."""

    model: str
    alias: str
    version: str | None
    delivery_id: str

    def to_payload(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_payload(cls, payload: str) -> ReloadNotice | None:
        """The notice, or None for a payload that is not one (another program's NOTIFY)."""
        try:
            data = json.loads(payload)
            version = data.get("version")
            return cls(
                str(data["model"]),
                str(data["alias"]),
                None if version is None else str(version),
                str(data["delivery_id"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def _nothing() -> None:
    """The check of an alias this replica does not follow."""


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (`postgresql+psycopg://`) as libpq reads it (`postgresql://`)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


class ReloadFanout:
    """The listener thread and the publisher of one app (both idle without RELOAD_NOTIFY_URL)."""

    def __init__(
        self,
        settings: Settings,
        checks: Mapping[str, Callable[[], None]],
        deliveries: SeenDeliveries,
        redact: Callable[[str], str],
    ) -> None:
        self._url = libpq_url(settings.reload_notify_url) if settings.reload_notify_url else None
        self._model = settings.model_name
        self._checks = dict(checks)  # alias -> the request_check of the store following it
        self._deliveries = deliveries
        self._redact = redact
        self._lock = threading.Lock()  # the counters: listener, threadpool and scrapes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = False
        self.connected_at: datetime | None = None
        self.connects = 0
        self.notices = {"applied": 0, "duplicate": 0, "ignored": 0}
        self.published = {"sent": 0, "failed": 0}
        self.last_error: str | None = None

    @property
    def enabled(self) -> bool:
        return self._url is not None

    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._listen, name="reload-fanout", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2 * _STOP_POLL) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # --- the receiving replica --------------------------------------------------------------
    async def deliver(self, notice: ReloadNotice) -> bool:
        """Check here at once, then tell the other replicas; True when the notice went out."""
        self._checks.get(notice.alias, _nothing)()
        if not self.enabled:
            return False
        return await run_in_threadpool(self.publish, notice)

    def publish(self, notice: ReloadNotice) -> bool:
        """NOTIFY every listener, on a connection of its own (webhooks are rare). Blocking."""
        import psycopg

        try:
            with psycopg.connect(
                self._url or "", autocommit=True, connect_timeout=_CONNECT_TIMEOUT
            ) as conn:
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, notice.to_payload()))
        except psycopg.Error as error:
            self._count(self.published, "failed")
            logger.warning("reload notice not sent: %s", self._describe(error))
            return False
        self._count(self.published, "sent")
        return True

    # --- every replica ----------------------------------------------------------------------
    def _listen(self) -> None:
        import psycopg

        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._url or "",
                    autocommit=True,
                    connect_timeout=_CONNECT_TIMEOUT,
                    application_name=LISTENER_NAME,
                    # A connection that dies silently (a host gone, not restarted): noticed in
                    # about 15 s (5 s idle, then 3 probes 2 s apart).
                    keepalives=1,
                    keepalives_idle=5,
                    keepalives_interval=2,
                    keepalives_count=3,
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    failures = 0
                    self._connected()
                    self._receive(conn)
            except Exception as error:  # never let the listener die: the next try may work
                failures += 1
                self._lost(error)
            if failures and not self._stop.is_set():
                self._stop.wait(min(_MAX_BACKOFF, 0.5 * 2 ** (failures - 1)))
        self.listening = False

    def _receive(self, conn: psycopg.Connection[Any]) -> None:
        while not self._stop.is_set():
            for notify in conn.notifies(timeout=_STOP_POLL):
                self._handle(notify.payload)

    def _connected(self) -> None:
        self.listening, self.connected_at = True, datetime.now(UTC)
        with self._lock:
            self.connects += 1
        logger.info("listening for reload notices (connection %d)", self.connects)
        # Notices sent while this replica was not listening are lost: look at every alias once.
        for check in self._checks.values():
            check()

    def _lost(self, error: Exception) -> None:
        message = self._describe(error)
        if self.listening or message != self.last_error:
            logger.warning("reload notices: not listening, reconnecting: %s", message)
        self.listening, self.last_error = False, message

    def _handle(self, payload: str) -> None:
        notice = ReloadNotice.from_payload(payload)
        if notice is None or notice.model != self._model or notice.alias not in self._checks:
            outcome = "ignored"
        elif not self._deliveries.add(notice.delivery_id):
            outcome = "duplicate"  # this replica received the webhook, or the notice already
        else:
            outcome = "applied"
            logger.info(
                "reload notice: %s@%s is version %s (delivery %s): checking",
                notice.model,
                notice.alias,
                notice.version,
                notice.delivery_id,
            )
            self._checks[notice.alias]()
        self._count(self.notices, outcome)

    def _count(self, counters: dict[str, int], key: str) -> None:
        with self._lock:
            counters[key] += 1

    def _describe(self, error: Exception) -> str:
        # Redacted before it is cut, so that no prefix of a secret survives the cut.
        return self._redact(f"{type(error).__name__}: {error}".strip())[:500]


class FanoutCollector(Collector):
    """The fan-out's gauge and counters for `/metrics` (none while it is not configured)."""

    def __init__(self, fanout: ReloadFanout) -> None:
        self._fanout = fanout

    def collect(self) -> Iterable[Any]:
        fanout = self._fanout
        if not fanout.enabled:
            return
        yield GaugeMetricFamily(
            "sentiment_reload_fanout_listening",
            "1 while this replica listens for reload notices of the other replicas.",
            value=float(fanout.listening),
        )
        yield CounterMetricFamily(
            "sentiment_reload_fanout_connects",
            "Listener connections made (the first, then one per reconnect).",
            value=fanout.connects,
        )
        for name, counts, label, text in (
            ("notices", fanout.notices, "outcome", "Reload notices received, by outcome."),
            ("published", fanout.published, "result", "Reload notices sent, by result."),
        ):
            family = CounterMetricFamily(f"sentiment_reload_fanout_{name}", text, labels=[label])
            for key, count in counts.items():
                family.add_metric([key], count)
            yield family
