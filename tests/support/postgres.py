"""A throwaway database on the test PostgreSQL server (SENTIMENT_TEST_PG_URL), dropped after use.

Without a server the tests that need one are skipped, except under CI=true, where that is a
failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

PG_URL = os.environ.get("SENTIMENT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """Create a database with a unique name; yields its SQLAlchemy URL (psycopg driver)."""
    import psycopg

    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"no PostgreSQL for the tests: {error}")
        pytest.skip(f"no PostgreSQL at SENTIMENT_TEST_PG_URL: {error}")
    name = f"{prefix}_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield database_url(name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_url(name: str, port: int | None = None) -> str:
    """The SQLAlchemy URL of database `name` on the test server (optionally another port)."""
    parts = urlsplit(PG_URL)
    netloc = parts.netloc
    if port is not None:
        netloc = f"{netloc.rsplit('@', 1)[0]}@" if "@" in netloc else ""
        netloc += f"{parts.hostname}:{port}"
    return urlunsplit(("postgresql+psycopg", netloc, f"/{name}", "", ""))


def server_address() -> tuple[str, int]:
    parts = urlsplit(PG_URL)
    return parts.hostname or "127.0.0.1", parts.port or 5432
