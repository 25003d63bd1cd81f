"""Helpers of the prediction log tests: a served API with its log store, and reading that store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select

from sentiment_mlops.monitoring import tables
from tests.serving.helpers import MlflowStore, run_service, wait_until
from tests.support.processes import ServerProcess


@dataclass
class LoggedService:
    """A running API, the URL of its prediction log, and its process when it runs in one."""

    http: httpx.Client
    log_url: str
    server: ServerProcess | None = None

    def has_tables(self) -> bool:
        """Whether the writer has made its tables (it does so in its thread, after the start)."""
        engine = create_engine(self.log_url)
        try:
            with engine.connect() as connection:
                return engine.dialect.has_table(connection, "predictions")
        finally:
            engine.dispose()

    def count(self) -> int:
        """Rows in the store's predictions table (0 while the writer has not made it)."""
        engine = create_engine(self.log_url)
        try:
            with engine.connect() as connection:
                if not engine.dialect.has_table(connection, "predictions"):
                    return 0
                query = select(func.count()).select_from(tables.predictions)
                return connection.execute(query).scalar_one()
        finally:
            engine.dispose()

    def rows(self, ids: list[str]) -> dict[str, Any]:
        engine = create_engine(self.log_url)
        try:
            with engine.connect() as connection:
                query = select(tables.predictions).where(tables.predictions.c.id.in_(ids))
                return {row.id: row for row in connection.execute(query)}
        finally:
            engine.dispose()

    def execute(self, statement: Any) -> None:
        engine = create_engine(self.log_url)
        try:
            with engine.begin() as connection:
                connection.execute(statement)
        finally:
            engine.dispose()

    def metric(self, name: str, labels: str = "") -> float | None:
        """One sample of /metrics, or None when absent."""
        text = self.http.get("/metrics").text
        pattern = rf"^{re.escape(name + labels)} (\S+)$"
        match = re.search(pattern, text, re.MULTILINE)
        return float(match.group(1)) if match else None


@contextmanager
def logged_service(
    store: MlflowStore, workdir: Path, log_url: str, **env: str
) -> Iterator[LoggedService]:
    """The API on `store`'s champion with its prediction log at `log_url`, once healthy."""
    environment = store.env(PREDICTION_LOG_URL=log_url, **env)
    with run_service(environment, workdir) as server:
        http = httpx.Client(base_url=server.url, timeout=30)
        try:
            wait_until(lambda: http.get("/health").status_code == 200, timeout=120)
            service = LoggedService(http, log_url, server)
            wait_until(service.has_tables, timeout=60)
            yield service
        finally:
            http.close()
