"""Creating the prediction log's tables when another process meets the fresh store too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect

from sentiment_mlops.monitoring import tables
from tests.support.postgres import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
    else:
        with fresh_database("tables") as url:
            yield url


def test_a_table_another_process_creates_meanwhile_is_not_an_error(store_url: str) -> None:
    """The API's writer and the drift check both create tables on a fresh store (it failed
    the embedded drift check in CI): here the other process wins the race for the first
    table, between this one's look and its `CREATE TABLE`."""
    ours, theirs = tables.make_engine(store_url), tables.make_engine(store_url)
    raced: list[str] = []

    def other_process_first(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("CREATE TABLE") and not raced:
            raced.append(statement)
            tables.create_tables(theirs)

    event.listen(ours, "before_cursor_execute", other_process_first)
    try:
        tables.create_tables(ours)
        found = inspect(ours)
        assert raced, "the other process never got in before a CREATE TABLE"
        assert set(found.get_table_names()) >= set(tables.metadata.tables)
        assert "variant" in {c["name"] for c in found.get_columns("predictions")}
        assert {i["name"] for i in found.get_indexes("predictions")} >= {
            index.name for index in tables.predictions.indexes
        }
    finally:
        ours.dispose()
        theirs.dispose()
