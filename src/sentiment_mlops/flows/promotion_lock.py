"""One champion decision at a time.

Compare-and-promote reads the champion, scores it and moves the alias; two trainings doing this
at once could both see the same old champion and the worse one could win the last write. With a
Prefect server, a global concurrency limit (one slot) serialises the decision across machines;
without one, an exclusive file lock serialises the processes of this machine.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sentiment_mlops.flows.prefect_objects import create_if_missing
from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)

LIMIT_NAME = "champion-promotion"
_WAIT_TIMEOUT_S = 600.0


@contextmanager
def champion_lock(settings: Settings) -> Iterator[None]:
    """Hold the promotion lock for the body of the `with` block."""
    if settings.prefect_api_url:
        with _prefect_limit():
            yield
    else:
        with _file_lock(settings):
            yield


def ensure_limit() -> bool:
    """Create the one-slot global concurrency limit if missing; True when it was created.

    The lock creates it on first use; `sentiment stack up` creates it early so that it shows in
    the Prefect UI from the start.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    with get_client(sync_client=True) as client:
        return create_if_missing(
            lambda: client.read_global_concurrency_limit_by_name(LIMIT_NAME),
            lambda: client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=LIMIT_NAME, limit=1)
            ),
        )


@contextmanager
def _prefect_limit() -> Iterator[None]:
    from prefect.concurrency.sync import concurrency

    ensure_limit()
    with concurrency(LIMIT_NAME, occupy=1, strict=True, timeout_seconds=_WAIT_TIMEOUT_S):
        logger.info("holding the %s concurrency slot", LIMIT_NAME)
        yield


@contextmanager
def _file_lock(settings: Settings) -> Iterator[None]:
    folder = settings.prefect_home
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{LIMIT_NAME}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
