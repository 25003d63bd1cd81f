"""A prediction log made before the `variant` column (issue 13) gains it at start, on SQLite and
PostgreSQL, keeping its rows; several workers adding it at once all succeed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, inspect, select, text

from sentiment_mlops.monitoring import tables
from tests.support.postgres import fresh_database


def _old_table(url: str) -> None:
    """The tables as the release before the column made them, with one prediction."""
    engine = tables.make_engine(url)
    tables.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE predictions DROP COLUMN variant"))
        connection.execute(
            text(
                "INSERT INTO predictions (id, created_at, model_name, model_version, "
                "text_sha256, text_length, p_negative, p_positive, label, latency_ms, "
                "request_kind) VALUES ('a', CURRENT_TIMESTAMP, 'm', '1', 'h', 1, 0.1, 0.9, "
                "'positive', 1.0, 'single')"
            )
        )
    engine.dispose()


def _check_upgrade(url: str) -> None:
    _old_table(url)
    engine = tables.make_engine(url)
    try:
        with ThreadPoolExecutor(3) as pool:  # three workers starting together
            list(pool.map(lambda _: tables.create_tables(engine), range(3)))
        names = {c["name"] for c in inspect(engine).get_columns("predictions")}
        assert "variant" in names
        with engine.begin() as connection:
            row = {
                "id": "b", "created_at": datetime.now(UTC), "model_name": "m", "model_version": "2",
                "text_sha256": "h", "text_length": 1, "p_negative": 0.5, "p_positive": 0.5,
                "label": "negative", "latency_ms": 1.0, "request_kind": "shadow",
                "variant": "challenger",
            }  # fmt: skip
            connection.execute(insert(tables.predictions), [row])
            query = select(tables.predictions.c.id, tables.predictions.c.variant)
            found = {row.id: row.variant for row in connection.execute(query)}
        assert found == {"a": None, "b": "challenger"}
    finally:
        engine.dispose()


def test_sqlite_log_gains_the_variant_column(tmp_path: Path) -> None:
    _check_upgrade(f"sqlite:///{tmp_path / 'predictions.db'}")


def test_postgres_log_gains_the_variant_column() -> None:
    with fresh_database("variant_upgrade") as url:
        _check_upgrade(url)
