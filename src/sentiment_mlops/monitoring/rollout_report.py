"""Champion against challenger on live traffic, from the prediction log, and what to do next.

Rows carry their variant (`predictions.variant`; null in rows older than the column, which were
the champion's). A shadow score (`request_kind = 'shadow'`) has the same text hash and
`created_at` as the champion's answer it shadows, which pairs the two for agreement and lets
the champion's feedback label the challenger's score too. In canary mode each variant answers
its own requests and gets its own feedback.

The recommendation, in this order (`THRESHOLDS`):
1. `wait` while the challenger has fewer than `min_predictions` answers or shadow scores;
2. `clear` when its p99 latency exceeds the champion's by more than `max_p99_ratio` (plus 1 ms);
3. with at least `min_labelled` labels on each side: `promote` when its live accuracy is at
   least the champion's, `clear` when it is more than `max_accuracy_drop` below, else `wait`;
4. without labels: `promote` when shadow agreement is at least `min_agreement` (it behaves like
   the champion), else `wait` (it disagrees: feedback must say which one is right).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, and_, case, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from sentiment_mlops.monitoring import tables
from sentiment_mlops.monitoring.feedback import StoreUnavailableError

CHAMPION, CHALLENGER = "champion", "challenger"
Recommendation = Literal["promote", "clear", "wait"]


@dataclass(frozen=True)
class Thresholds:
    min_predictions: int = 200
    min_labelled: int = 50
    max_accuracy_drop: float = 0.02
    min_agreement: float = 0.95
    max_p99_ratio: float = 1.5


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class VariantStats:
    variant: str
    versions: tuple[str, ...]
    requests: int  # texts answered (canary) or scored in shadow
    labelled: int
    accuracy: float | None
    p50_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class Report:
    variants: tuple[VariantStats, VariantStats]  # champion, challenger
    compared: int  # shadow scores paired with a champion answer
    agreement: float | None
    recommendation: Recommendation
    reason: str


def build_report(
    engine: Engine, model_name: str, since: datetime, thresholds: Thresholds = THRESHOLDS
) -> Report:
    """The report over rows of `model_name` logged since `since` (StoreUnavailableError)."""
    try:
        with engine.connect() as connection:
            champion = _variant_stats(connection, model_name, since, CHAMPION)
            challenger = _variant_stats(connection, model_name, since, CHALLENGER)
            compared, agreed = _agreement(connection, model_name, since)
    except SQLAlchemyError:
        raise StoreUnavailableError("the prediction log store is not reachable") from None
    agreement = agreed / compared if compared else None
    recommendation, reason = recommend(champion, challenger, agreement, thresholds)
    return Report((champion, challenger), compared, agreement, recommendation, reason)


def recommend(
    champion: VariantStats,
    challenger: VariantStats,
    agreement: float | None,
    thresholds: Thresholds = THRESHOLDS,
) -> tuple[Recommendation, str]:
    """The documented rule (module docstring) on stats already gathered."""
    t = thresholds
    if challenger.requests < t.min_predictions:
        return "wait", f"{challenger.requests} challenger predictions, {t.min_predictions} needed"
    ours, theirs = challenger.p99_ms, champion.p99_ms
    if ours is not None and theirs is not None and ours > theirs * t.max_p99_ratio + 1.0:
        return "clear", (
            f"challenger p99 {ours:.1f} ms over {t.max_p99_ratio}x the champion's {theirs:.1f} ms"
        )
    if (
        champion.accuracy is not None
        and challenger.accuracy is not None
        and min(champion.labelled, challenger.labelled) >= t.min_labelled
    ):
        gap = challenger.accuracy - champion.accuracy
        if gap >= 0:
            return "promote", f"live accuracy {gap:+.3f} against the champion"
        if gap < -t.max_accuracy_drop:
            return "clear", f"live accuracy {gap:+.3f} against the champion"
        return "wait", f"live accuracy {gap:+.3f}: within {t.max_accuracy_drop}, undecided"
    if agreement is not None and agreement >= t.min_agreement:
        return "promote", f"agrees with the champion on {agreement:.1%} of texts, no labels"
    return "wait", f"fewer than {t.min_labelled} labels per variant: send feedback"


def _is(variant: str) -> Any:
    column = tables.predictions.c.variant
    return or_(column == CHAMPION, column.is_(None)) if variant == CHAMPION else column == variant


def _variant_stats(connection: Any, model_name: str, since: datetime, variant: str) -> VariantStats:
    p, fb = tables.predictions, tables.feedback
    mine = and_(p.c.model_name == model_name, p.c.created_at >= since, _is(variant))
    latencies = sorted(connection.execute(select(p.c.latency_ms).where(mine)).scalars().all())
    versions = connection.execute(select(p.c.model_version).where(mine).distinct()).scalars()
    # Own feedback (answers), or the feedback of the champion answer a shadow score pairs with.
    answered = select(p.c.id, p.c.label, p.c.id.label("labelled_id")).where(
        mine, p.c.request_kind != "shadow"
    )
    champion, shadows = _shadowed()
    shadowed = (
        select(p.c.id, p.c.label, champion.c.id.label("labelled_id"))
        .join(champion, shadows)
        .where(mine, p.c.request_kind == "shadow")
    )
    rows = answered.union_all(shadowed).subquery()
    labelled = connection.execute(
        select(func.count(), func.sum(case((rows.c.label == fb.c.label, 1), else_=0))).join_from(
            rows, fb, fb.c.prediction_id == rows.c.labelled_id
        )
    ).one()
    count, correct = int(labelled[0] or 0), int(labelled[1] or 0)
    return VariantStats(
        variant,
        tuple(sorted(versions, key=lambda v: int(v) if v.isdigit() else 0)),
        len(latencies),
        count,
        correct / count if count else None,
        _quantile(latencies, 0.50),
        _quantile(latencies, 0.99),
    )


def _agreement(connection: Any, model_name: str, since: datetime) -> tuple[int, int]:
    p = tables.predictions
    champion, shadows = _shadowed()
    row = connection.execute(
        select(func.count(), func.sum(case((champion.c.label == p.c.label, 1), else_=0)))
        .join_from(p, champion, shadows)
        .where(p.c.model_name == model_name, p.c.created_at >= since, p.c.request_kind == "shadow")
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def _shadowed() -> tuple[Any, Any]:
    """The predictions table again, as `champion`, and the condition that pairs a shadow score
    with the champion answer it shadows: same model, text hash and time, not a shadow itself."""
    p = tables.predictions
    champion = p.alias("champion")
    return champion, and_(
        champion.c.model_name == p.c.model_name,
        champion.c.text_sha256 == p.c.text_sha256,
        champion.c.created_at == p.c.created_at,
        champion.c.request_kind != "shadow",
    )


def _quantile(values: list[float], q: float) -> float | None:
    """The nearest-rank quantile of sorted values."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


def since_hours(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)
