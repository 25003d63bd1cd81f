"""The model store: the served snapshot, swapped atomically, kept current by a watcher thread.

Request handlers read `store.current` once and use that snapshot to the end, so a swap never
affects a request in flight. Every registry call and every load runs in the watcher thread (or a
worker thread for a forced check), never on the event loop. The registry client (MLflow's for a
local store, a small REST client for a tracking server: `registry_client`) and scikit-learn are
imported there too, which keeps the app's start fast.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from sentiment_mlops.redaction import redactor_for
from sentiment_mlops.serving.memory import release_freed_memory
from sentiment_mlops.serving.served_model import ServedModel, validate_model
from sentiment_mlops.settings import Settings

if TYPE_CHECKING:
    from sentiment_mlops.model_ref import ModelRef
    from sentiment_mlops.serving.registry_client import Registry

logger = logging.getLogger(__name__)

Outcome = Literal["loaded", "unchanged", "no_champion", "refused", "lookup_failed"]
Stage = Literal["lookup", "load", "validate"]
# Outcomes after which the alias and the served model agree again: an earlier failure is over.
_RESOLVING: frozenset[Outcome] = frozenset({"loaded", "unchanged", "no_champion"})

# While no model is served, a failed lookup is retried after 0.5 s, 1 s, 2 s, ... up to this
# (and never less often than the reload interval).
_MAX_STARTUP_BACKOFF = 5.0
# A refused version is tried again only after this long (doubling per refusal, capped), so a
# broken artifact is not downloaded on every poll. A forced check retries it at once.
_REFUSAL_BACKOFF = 60.0
_MAX_REFUSAL_BACKOFF = 3600.0


@dataclass(frozen=True)
class ReloadFailure:
    """Why the last attempt to find, load or validate a champion failed, and whether a later
    check has succeeded since (then `resolved_at` is set, with the version served then)."""

    stage: Stage
    version: str | None
    message: str
    at: datetime
    resolved_at: datetime | None = None
    resolved_version: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check of the alias."""

    outcome: Outcome
    version: str | None = None
    previous_version: str | None = None
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.outcome == "loaded"


@dataclass
class StoreStats:
    """Counters and state for `/model-info` and the metrics (written under the store's lock)."""

    checks: int = 0
    reloads: int = 0
    failures: dict[str, int] = field(
        default_factory=lambda: {"lookup": 0, "load": 0, "validate": 0}
    )
    last_check_at: datetime | None = None
    last_outcome: Outcome | None = None
    last_failure: ReloadFailure | None = None


@dataclass(frozen=True)
class _Refusal:
    version: str
    attempts: int
    retry_at: float


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _collector_paused(pause: bool) -> Iterator[None]:
    """Pause the cyclic collector during the first check, which imports MLflow and
    scikit-learn and loads the model: it would otherwise walk the growing heap again and again
    (a fifth of the time to the first model). `gc.freeze()` after the swap keeps it cheap."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class ModelStore:
    """Holds the served snapshot and replaces it when the alias moves to a good version."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        alias: str | None = None,
    ) -> None:
        self.settings = settings
        # The alias followed: MODEL_ALIAS, or CHALLENGER_ALIAS for a rollout's second store
        # (`serving.rollout`). Only the champion keeps being served once its alias is gone.
        self.alias = alias or settings.model_alias
        self._drop_when_gone = self.alias != settings.model_alias
        # Cleans credentials (URI passwords, tokens) out of every error message it reports.
        self.redact = redactor_for(settings)
        self.stats = StoreStats()
        self._current: ServedModel | None = None
        self._registry: Registry | None = None
        self._refused: dict[str, _Refusal] = {}
        self._check_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clock = clock

    @property
    def current(self) -> ServedModel | None:
        """The snapshot to serve (None until a model has loaded); read it once per request."""
        return self._current

    @property
    def refused_versions(self) -> list[str]:
        return sorted(list(self._refused), key=int)  # a copy: the watcher may add meanwhile

    # --- the watcher ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the watcher thread; its first check runs at once, in the background."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._watch, name=f"model-watcher-{self.alias}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the watcher (a check in progress finishes; the thread is a daemon regardless)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def request_check(self) -> None:
        """Ask the watcher to check now (a webhook delivery); returns at once."""
        self._wake.set()

    def _watch(self) -> None:
        failures = 0
        while not self._stop.is_set():
            result = self.check()
            failures = failures + 1 if result.outcome == "lookup_failed" else 0
            self._wake.wait(self._next_delay(failures))
            self._wake.clear()

    def _next_delay(self, failures: int) -> float:
        interval = self.settings.model_reload_interval
        if failures and self._current is None:
            return min(interval, _MAX_STARTUP_BACKOFF, 0.5 * 2 ** (failures - 1))
        return interval

    # --- one check ------------------------------------------------------------------------
    def check(self, force: bool = False) -> CheckResult:
        """Look the alias up; load, validate and swap in a new version. Blocking: use a thread.

        `force` retries a refused version at once (an operator's explicit reload).
        """
        with self._check_lock:
            self.stats.checks += 1
            self.stats.last_check_at = _now()
            try:
                with _collector_paused(self._current is None):
                    result = self._check(force)
            except Exception as error:  # never let the watcher die
                trace = self.redact(traceback.format_exc())
                logger.error("model check failed unexpectedly: %s", trace)
                result = self._fail("lookup", None, error)
            if result.changed:
                # The old snapshot went with `_check`'s frame (requests still holding it free it
                # when they end): its pages and the load's garbage go back to the OS.
                release_freed_memory()
            self.stats.last_outcome = result.outcome
            self._resolve_failure(result)
            return result

    def _resolve_failure(self, result: CheckResult) -> None:
        """Mark the last failure resolved once a check succeeds (it stays shown, with when)."""
        failure = self.stats.last_failure
        if failure is not None and failure.resolved_at is None and result.outcome in _RESOLVING:
            served = self._current
            self.stats.last_failure = replace(
                failure, resolved_at=_now(), resolved_version=served.version if served else None
            )

    def _check(self, force: bool) -> CheckResult:
        settings = self.settings
        served = self._current
        previous = served.version if served else None
        try:
            registry = self._get_registry()
            ref = registry.get_alias(settings.model_name, self.alias)
        except Exception as error:
            return self._fail("lookup", None, error)
        if ref is None:
            if self._drop_when_gone and served is not None:
                self._current = None  # the challenger was withdrawn: serve it no more
                logger.info("alias %r removed: version %s no longer served", self.alias, previous)
                return CheckResult("no_champion", None, previous)
            return CheckResult("no_champion", previous, previous)
        if ref.version == previous:
            return CheckResult("unchanged", previous, previous)
        refusal = self._refused.get(ref.version)
        if refusal and not force and self._clock() < refusal.retry_at:
            return CheckResult("refused", ref.version, previous, "version was refused before")
        return self._load(registry, ref, previous)

    def _load(self, registry: Registry, ref: ModelRef, previous: str | None) -> CheckResult:
        started = time.perf_counter()
        try:
            model = registry.load_model(ref)
        except Exception as error:
            return self._refuse("load", ref, error)
        try:
            labels = validate_model(model)
        except Exception as error:
            return self._refuse("validate", ref, error)
        snapshot = ServedModel(
            model=model,
            ref=ref,
            labels=labels,
            metrics=registry.run_metrics(ref.run_id),
            loaded_at=_now(),
        )
        self._current = snapshot  # the atomic swap: one reference assignment
        # Move everything alive now (MLflow, scikit-learn, the model) out of the collector's
        # reach: a full collection over it takes hundreds of milliseconds here, during which
        # no request is answered. Objects are still freed by reference counting.
        gc.freeze()
        self._refused.pop(ref.version, None)
        self.stats.reloads += 1
        logger.info(
            "serving %s version %s (was %s), loaded in %.2f s",
            ref.name,
            ref.version,
            previous,
            time.perf_counter() - started,
        )
        return CheckResult("loaded", ref.version, previous)

    def _get_registry(self) -> Registry:
        if self._registry is None:
            from sentiment_mlops.serving.registry_client import open_registry

            self._registry = open_registry(self.settings, self.redact)
        return self._registry

    def _refuse(self, stage: Stage, ref: ModelRef, error: BaseException) -> CheckResult:
        old = self._refused.get(ref.version)
        attempts = old.attempts + 1 if old else 1
        delay = min(_MAX_REFUSAL_BACKOFF, _REFUSAL_BACKOFF * 2 ** (attempts - 1))
        self._refused[ref.version] = _Refusal(ref.version, attempts, self._clock() + delay)
        result = self._fail(stage, ref.version, error)
        return replace(result, outcome="refused")

    def _fail(self, stage: Stage, version: str | None, error: BaseException) -> CheckResult:
        # Redacted before it is cut, so that no prefix of a secret survives the cut.
        message = self.redact(f"{type(error).__name__}: {error}")[:2000]
        self.stats.failures[stage] += 1
        self.stats.last_failure = ReloadFailure(stage, version, message, _now())
        served = self._current
        what = f"version {version}" if version else f"alias {self.alias!r}"
        logger.warning("model %s failed at %s: %s", what, stage, message)
        previous = served.version if served else None
        return CheckResult("lookup_failed", version, previous, message)
