"""One champion decision at a time, and at most one retraining started by a drift check.

Compare-and-promote reads the champion, scores it and moves the alias; two trainings doing this
at once could both see the same old champion and the worse one could win the last write. With a
Prefect server, a global concurrency limit (one slot) serialises the decision across machines;
without one, an exclusive file lock serialises the processes of this machine. The drift check
uses the same two mechanisms under its own name, without waiting (`try_lock`).
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from sentiment_mlops.flows.prefect_objects import create_if_missing
from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)

LIMIT_NAME = "champion-promotion"
RETRAIN_LIMIT_NAME = "monitoring-retraining"
_WAIT_TIMEOUT_S = 600.0


@contextmanager
def champion_lock(settings: Settings) -> Iterator[None]:
    """Hold the promotion lock for the body of the `with` block."""
    if settings.prefect_api_url:
        with _prefect_limit(LIMIT_NAME, _WAIT_TIMEOUT_S):
            yield
    else:
        with _file_lock(settings, LIMIT_NAME, wait=True):
            yield


@contextmanager
def try_lock(settings: Settings, name: str) -> Iterator[bool]:
    """Take the lock `name` if it is free: yields True when held, False when another holds it."""
    if settings.prefect_api_url:
        with ExitStack() as held:
            try:
                held.enter_context(_prefect_limit(name, 1.0))
            except TimeoutError:  # Prefect's AcquireConcurrencySlotTimeoutError
                yield False
                return
            yield True
    else:
        with _file_lock(settings, name, wait=False) as held:
            yield held


def ensure_limit(name: str = LIMIT_NAME) -> bool:
    """Create the one-slot global concurrency limit if missing; True when it was created.

    The lock creates it on first use; `sentiment stack up` creates it early so that it shows in
    the Prefect UI from the start.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    with get_client(sync_client=True) as client:
        return create_if_missing(
            lambda: client.read_global_concurrency_limit_by_name(name),
            lambda: client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=1)
            ),
        )


@contextmanager
def _prefect_limit(name: str, timeout: float) -> Iterator[None]:
    from prefect.concurrency.sync import concurrency

    ensure_limit(name)
    with concurrency(name, occupy=1, strict=True, timeout_seconds=timeout):
        logger.info("holding the %s concurrency slot", name)
        yield


@contextmanager
def _file_lock(settings: Settings, name: str, *, wait: bool) -> Iterator[bool]:
    folder = settings.prefect_home
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{name}.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
