"""First use of a local SQLite MLflow store, one process at a time.

MLflow creates and migrates a SQLite database when a process first opens it: it checks whether
its tables exist, and if not creates them and runs the Alembic migrations. Several commands
started at once on a store that does not exist yet all see an empty database and migrate it
together; all but one fail mid-migration (`duplicate column name`), and one that starts a moment
later reads a half-migrated schema. An exclusive file lock next to the database makes the first
opening one process at a time. MLflow keeps the opened stores for the life of the process, so
only the first client of a process takes the lock. Server-backed stores migrate on the server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from sentiment_mlops.errors import ServiceUnavailableError

logger = logging.getLogger(__name__)

# A migration takes seconds; a holder this slow is stuck, and waiting longer would hide it.
_LOCK_TIMEOUT_S = 300.0


class StoreInitError(ServiceUnavailableError):
    """The store could not be opened because another process holds its first-use lock."""


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///...` URI; None for other stores and in-memory SQLite."""
    if not uri.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(uri).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


@contextmanager
def first_use_lock(*uris: str) -> Iterator[None]:
    """Hold the first-use lock of each SQLite store among `uris` (in one fixed order)."""
    paths = sorted({path.resolve() for uri in uris if (path := sqlite_path(uri)) is not None})
    with ExitStack() as stack:
        for path in paths:
            stack.enter_context(_lock_next_to(path))
        yield


@contextmanager
def _lock_next_to(database: Path) -> Iterator[None]:
    lock = FileLock(database.with_name(f"{database.name}.lock"), timeout=_LOCK_TIMEOUT_S)
    held = False
    try:
        lock.acquire()
        held = True
    except Timeout as error:
        raise StoreInitError(
            f"{database}: another process has held {lock.lock_file} for over "
            f"{_LOCK_TIMEOUT_S:.0f} s while opening the store"
        ) from error
    except OSError as error:
        # A folder we cannot write to: the database cannot be migrated there either, so there
        # is nothing to serialise; MLflow reports the real problem when it opens the store.
        logger.debug("no first-use lock for %s: %s", database, error)
    try:
        yield
    finally:
        if held:
            lock.release()
