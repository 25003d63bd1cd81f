"""What the drift check reads from and writes to the prediction log's store.

It reads a window of served predictions (the newest first, up to a bound) and writes one row
per check to `drift_checks`, which the API turns into Prometheus gauges at scrape time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from sentiment_mlops.errors import ServiceUnavailableError
from sentiment_mlops.monitoring import tables

if TYPE_CHECKING:
    import pandas as pd


def load_window(
    engine: Engine, model_name: str, model_version: str, since: timedelta, max_rows: int
) -> pd.DataFrame:
    """The version's predictions of the last `since`, newest first, at most `max_rows`:
    columns text (null when logged as a hash only), text_length and predicted."""
    p = tables.predictions
    query = (
        select(p.c.text, p.c.text_length, p.c.label.label("predicted"))
        .where(
            p.c.model_name == model_name,
            p.c.model_version == model_version,
            p.c.created_at >= datetime.now(UTC) - since,
        )
        .order_by(p.c.created_at.desc())
        .limit(max_rows)
    )
    try:
        tables.create_tables(engine)  # a store nobody has served from yet is an empty window
        with engine.connect() as connection:
            rows = connection.execute(query).all()
    except SQLAlchemyError:
        raise ServiceUnavailableError(
            "the prediction log store (PREDICTION_LOG_URL) is not reachable"
        ) from None
    import pandas as pd  # the drift check's; the API reads only `latest_checks` (issue 15)

    return pd.DataFrame(rows, columns=["text", "text_length", "predicted"])


@dataclass(frozen=True)
class CheckRecord:
    """One drift check as the API's gauges show it."""

    model_name: str
    model_version: str
    verdict: str
    retrain: bool
    drift_score: float | None
    drifted_descriptors: int
    positive_share: float | None
    window_rows: int
    mlflow_run_id: str | None
    checked_at: datetime | None = None


def record_check(engine: Engine, record: CheckRecord) -> None:
    """Store a check's outcome for the API's gauges."""
    values = asdict(record) | {"checked_at": datetime.now(UTC), "retrain": int(record.retrain)}
    with engine.begin() as connection:
        connection.execute(insert(tables.drift_checks), [values])


def latest_checks(engine: Engine) -> list[CheckRecord]:
    """The newest check of each model that compared something (not an empty window), labelled
    with the version it checked: an older version's last verdict does not linger in /metrics.

    Raises SQLAlchemyError when the store is unreachable or has no checks table yet."""
    d = tables.drift_checks
    newest = (
        select(func.max(d.c.id)).where(d.c.verdict != "nothing_to_compare").group_by(d.c.model_name)
    )
    with engine.connect() as connection:
        rows = connection.execute(select(d).where(d.c.id.in_(newest)).order_by(d.c.id)).all()
    return [
        CheckRecord(
            model_name=row.model_name,
            model_version=row.model_version,
            verdict=row.verdict,
            retrain=bool(row.retrain),
            drift_score=row.drift_score,
            drifted_descriptors=row.drifted_descriptors,
            positive_share=row.positive_share,
            window_rows=row.window_rows,
            mlflow_run_id=row.mlflow_run_id,
            # SQLite hands back naive datetimes; they were written in UTC.
            checked_at=row.checked_at.replace(tzinfo=row.checked_at.tzinfo or UTC),
        )
        for row in rows
    ]
