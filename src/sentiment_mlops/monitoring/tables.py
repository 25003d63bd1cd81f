"""The prediction log's two tables and the engine that reaches them.

One row per answered prediction in `predictions`, at most one true label per prediction in
`feedback`, one row per drift check in `drift_checks`. `create_all` makes missing tables at
start but never changes an existing one, so a column added later is added by `create_tables`
itself (`_ADDED_COLUMNS`): nullable, with no default, which SQLite and PostgreSQL add without
rewriting the table. Anything more (a type change, a new index on a big table) would need a real
migration tool.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.exc import SQLAlchemyError

metadata = MetaData()

predictions = Table(
    "predictions",
    metadata,
    # 128 random bits in hex, made in the request path so that the response can carry it.
    Column("id", String(32), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("model_name", String(256), nullable=False),
    Column("model_version", String(64), nullable=False),
    # Null when LOG_TEXTS=false; the hash and length are always kept.
    Column("text", Text, nullable=True),
    Column("text_sha256", String(64), nullable=False),
    Column("text_length", Integer, nullable=False),
    Column("p_negative", Float, nullable=False),
    Column("p_positive", Float, nullable=False),
    Column("label", String(16), nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("request_kind", String(16), nullable=False),  # "single", "batch" or "shadow"
    # "champion" or "challenger" (issue 13); null in rows written before the column existed,
    # which were all the champion's.
    Column("variant", String(16), nullable=True),
)

# Columns added after the first release: (table, column), each nullable without a default.
_ADDED_COLUMNS = (("predictions", "variant"),)

feedback = Table(
    "feedback",
    metadata,
    # Arrival order, so that "the last N labels" has one answer even within one batch.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column(
        "prediction_id",
        String(32),
        ForeignKey("predictions.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("label", String(16), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# One row per drift check (`sentiment monitor`, the `sentiment-monitoring` flow): the API reads
# the latest for its gauges, so every worker exports the same numbers without asking MLflow.
drift_checks = Table(
    "drift_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Column("model_name", String(256), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("verdict", String(32), nullable=False),
    Column("retrain", Integer, nullable=False),
    Column("drift_score", Float, nullable=True),  # null: no texts to compare
    Column("drifted_descriptors", Integer, nullable=False),
    Column("positive_share", Float, nullable=True),
    Column("window_rows", Integer, nullable=False),
    Column("mlflow_run_id", String(64), nullable=True),
)

Index("ix_predictions_model", predictions.c.model_name, predictions.c.model_version)


def make_engine(url: str) -> Engine:
    """An engine for the log store that never echoes row values (texts) in its errors.

    SQLite runs in WAL mode with a busy timeout, so that the writer thread, feedback requests
    and other workers' writers can share one file. PostgreSQL connections are checked before use
    and time out quickly, so that an unreachable store fails a write instead of hanging it.
    """
    options: dict[str, Any] = {"hide_parameters": True, "pool_pre_ping": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 10, "check_same_thread": False}
    elif url.startswith("postgresql"):
        options["connect_args"] = {"connect_timeout": 5}
        options["pool_timeout"] = 5
    engine = create_engine(url, **options)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_tables(engine: Engine) -> None:
    """Create the tables that do not exist yet (idempotent, safe for several processes).

    API workers, the drift check and the CLI may all meet a fresh store at once: between
    `checkfirst`'s look and the `CREATE TABLE`, another one may create the table, which fails
    the statement. A table that exists after such a failure was made by the other process, so
    each table is created on its own and that failure is not an error.
    """
    for table in metadata.sorted_tables:
        try:
            table.create(engine, checkfirst=True)
        except SQLAlchemyError:
            if not inspect(engine).has_table(table.name):
                raise
    for table_name, column_name in _ADDED_COLUMNS:
        _add_column(engine, metadata.tables[table_name].c[column_name])


def _add_column(engine: Engine, column: Column[Any]) -> None:
    """`ALTER TABLE ... ADD COLUMN` when a table made by an older release lacks `column`.

    Several workers may start together: one adds it, the others find it there afterwards.
    """
    table = column.table.name
    if any(c["name"] == column.name for c in inspect(engine).get_columns(table)):
        return
    kind = column.type.compile(dialect=engine.dialect)
    try:
        with engine.begin() as connection:
            connection.execute(text(f'ALTER TABLE {table} ADD COLUMN "{column.name}" {kind}'))
    except SQLAlchemyError:
        if not any(c["name"] == column.name for c in inspect(engine).get_columns(table)):
            raise
