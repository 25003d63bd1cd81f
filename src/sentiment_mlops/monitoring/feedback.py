"""True labels for logged predictions, and the live accuracy they give per model version.

A label is stored once per prediction. Sending the same label again is a no-op that answers
as before (a client may retry after a timeout); a different label for a prediction that has
one is a conflict: labels are facts, and silently replacing one would move live accuracy
without anyone noticing. A batch is all-or-nothing: an unknown id or a conflict stores none.

A prediction answered a moment ago may still be in the log's queue, so an id that is not in
the store yet is looked up again after a flush before it is called unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, case, func, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from sentiment_mlops.monitoring import tables
from sentiment_mlops.monitoring.prediction_log import PredictionLog


class FeedbackError(Exception):
    """Feedback that cannot be stored; `ids` are the predictions concerned."""

    def __init__(self, message: str, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = ids


class UnknownPredictionError(FeedbackError):
    """No logged prediction has this id (never made, sampled out, dropped, or expired)."""


class ConflictingLabelError(FeedbackError):
    """The prediction already has a different true label."""


class StoreUnavailableError(Exception):
    """The log store cannot be reached (or has not caught up) right now."""


@dataclass(frozen=True)
class Labelled:
    """A stored true label and what the model had predicted."""

    prediction_id: str
    label: str
    predicted_label: str
    model_version: str
    correct: bool
    already_recorded: bool


@dataclass(frozen=True)
class LiveAccuracy:
    """Accuracy over the last `labelled` (at most the window) labelled predictions of a version."""

    model_name: str
    model_version: str
    accuracy: float
    labelled: int


def record_feedback(log: PredictionLog, items: list[tuple[str, str]]) -> list[Labelled]:
    """Store true labels `(prediction_id, label)`, all or none; raises a FeedbackError or
    StoreUnavailableError. Blocking: call it from a thread."""
    try:
        try:
            return _record(log.engine, items)
        except UnknownPredictionError:
            # The prediction may still wait in the queue: write it, then look again.
            if not log.flush():
                raise StoreUnavailableError("the prediction log store is not reachable") from None
            return _record(log.engine, items)
    except SQLAlchemyError:
        # Unreachable, or reachable without its tables yet (the writer makes them once it can).
        raise StoreUnavailableError("the prediction log store is not reachable") from None


def _record(engine: Engine, items: list[tuple[str, str]]) -> list[Labelled]:
    wanted: dict[str, str] = {}
    for prediction_id, label in items:
        if wanted.setdefault(prediction_id, label) != label:
            raise ConflictingLabelError("two different labels for one prediction", [prediction_id])
    try:
        with engine.begin() as connection:
            return _store(connection, wanted)
    except IntegrityError:
        # Another request labelled one of them between our read and our insert: read again.
        with engine.begin() as connection:
            return _store(connection, wanted)


def _store(connection: Connection, wanted: dict[str, str]) -> list[Labelled]:
    p, fb = tables.predictions, tables.feedback
    ids = list(wanted)
    predicted = {
        row.id: row
        for row in connection.execute(
            select(p.c.id, p.c.label, p.c.model_version).where(p.c.id.in_(ids))
        )
    }
    missing = [i for i in ids if i not in predicted]
    if missing:
        raise UnknownPredictionError("no logged prediction has this id", missing)
    existing = dict(
        connection.execute(
            select(fb.c.prediction_id, fb.c.label).where(fb.c.prediction_id.in_(ids))
        )
        .tuples()
        .all()
    )
    conflicts = [i for i in ids if i in existing and existing[i] != wanted[i]]
    if conflicts:
        raise ConflictingLabelError("the prediction already has a different label", conflicts)
    new = [i for i in ids if i not in existing]
    if new:
        now = datetime.now(UTC)
        connection.execute(
            insert(fb),
            [{"prediction_id": i, "label": wanted[i], "received_at": now} for i in new],
        )
    return [
        Labelled(
            prediction_id=i,
            label=wanted[i],
            predicted_label=predicted[i].label,
            model_version=predicted[i].model_version,
            correct=predicted[i].label == wanted[i],
            already_recorded=i in existing,
        )
        for i in ids
    ]


def live_accuracy(engine: Engine, window: int, model_name: str | None = None) -> list[LiveAccuracy]:
    """Accuracy of each model version over its last `window` labelled predictions (by arrival
    of the label), computed by the store, so every worker and every restart sees the same.
    Raises StoreUnavailableError when the query fails (a missing table included)."""
    p, fb = tables.predictions, tables.feedback
    labelled = select(
        p.c.model_name,
        p.c.model_version,
        case((p.c.label == fb.c.label, 1), else_=0).label("correct"),
        func.row_number()
        .over(partition_by=(p.c.model_name, p.c.model_version), order_by=fb.c.seq.desc())
        .label("rank"),
    ).join_from(fb, p, fb.c.prediction_id == p.c.id)
    if model_name is not None:
        labelled = labelled.where(p.c.model_name == model_name)
    ranked = labelled.subquery()
    query = (
        select(
            ranked.c.model_name,
            ranked.c.model_version,
            func.count().label("labelled"),
            func.sum(ranked.c.correct).label("correct"),
        )
        .where(ranked.c.rank <= window)
        .group_by(ranked.c.model_name, ranked.c.model_version)
    )
    try:
        with engine.connect() as connection:
            rows = connection.execute(query).all()
    except SQLAlchemyError:
        raise StoreUnavailableError("the prediction log store is not reachable") from None
    found = [
        LiveAccuracy(
            row.model_name, row.model_version, int(row.correct) / row.labelled, row.labelled
        )
        for row in rows
    ]
    return sorted(found, key=lambda a: (a.model_name, _version_key(a.model_version)))


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)
