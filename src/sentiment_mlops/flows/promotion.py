"""The champion rule: a new version takes the served alias only if it scores better, under a lock.

Better means strictly better on `CHAMPION_METRIC`, in that metric's direction (`core.metrics`:
higher, or lower for log loss), with the champion re-scored on the challenger's own held-out
rows so that both are judged on the same data. Ties keep the champion. The decision is taken
under `promotion_lock.champion_lock`, one at a time across the trainings that share a registry.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sentiment_mlops import registry
from sentiment_mlops.core.evaluation import evaluate
from sentiment_mlops.core.metrics import higher_is_better, is_better
from sentiment_mlops.flows.promotion_lock import champion_lock
from sentiment_mlops.flows.types import PromotionDecision
from sentiment_mlops.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sentiment_mlops.core.evaluation import Evaluation
    from sentiment_mlops.core.split import Split

logger = logging.getLogger(__name__)


def promote_if_better(
    client: MlflowClient,
    settings: Settings,
    challenger: registry.ModelRef,
    evaluation: Evaluation,
    split: Split,
    metric: str,
) -> PromotionDecision:
    """Give `challenger` the served alias (MODEL_ALIAS) only if it beats the champion on `split`.

    The read-score-move sequence holds the promotion lock, so concurrent trainings decide one
    after the other and each compares against the champion the previous one left. The decision
    is then recorded on the challenger's run (tags and both scores).
    """
    score = evaluation.metrics.score(metric)
    with champion_lock(settings):
        champion = registry.get_alias(client, challenger.name, settings.model_alias)
        champion_version = champion.version if champion else None
        champion_score = None
        if champion is not None and champion.version != challenger.version:
            champion_score = _score_on(client, champion, split, metric)
        decision = decide(metric, challenger.version, score, champion_version, champion_score)
        if decision.promoted:
            registry.promote(client, challenger.name, challenger.version, settings.model_alias)
    _record_decision(client, challenger.run_id, decision)
    return decision


def decide(
    metric: str,
    version: str,
    score: float,
    champion_version: str | None,
    champion_score: float | None,
) -> PromotionDecision:
    """The rule alone, on scores already taken (None: the champion could not be scored)."""
    high = "high" if higher_is_better(metric) else "low"  # which way `metric` is better
    if champion_version is None:
        promoted, reason = True, "no champion yet"
    elif champion_version == version:
        promoted, reason = False, "already champion"
    elif champion_score is None:
        promoted, reason = True, f"champion v{champion_version} cannot be loaded"
    elif is_better(metric, score, champion_score):
        promoted, reason = True, f"challenger scores {high}er"
    else:
        promoted, reason = False, f"champion scores at least as {high}"
    return PromotionDecision(
        metric=metric,
        challenger_version=version,
        challenger_score=score,
        champion_version=champion_version,
        champion_score=champion_score,
        promoted=promoted,
        reason=reason,
    )


def _score_on(
    client: MlflowClient, champion: registry.ModelRef, split: Split, metric: str
) -> float | None:
    try:
        model = registry.load_model(client, champion)
    except Exception as error:  # a broken artifact must not block a healthy challenger
        logger.warning("cannot load champion v%s: %s", champion.version, error)
        return None
    return evaluate(model, split.test_texts, split.test_labels).metrics.score(metric)


def _record_decision(client: MlflowClient, run_id: str | None, decision: PromotionDecision) -> None:
    if run_id:
        scores = {f"challenger_{decision.metric}": decision.challenger_score}
        if decision.champion_score is not None:
            scores[f"champion_{decision.metric}"] = decision.champion_score
        tags = {
            "promotion.decision": decision.reason,
            "promotion.promoted": str(decision.promoted).lower(),
        }
        registry.record_decision(client, run_id, tags, scores)
    logger.info(
        "champion decision: %s (%s challenger v%s=%.4f, champion %s=%s)",
        "promoted" if decision.promoted else "kept champion",
        decision.metric,
        decision.challenger_version,
        decision.challenger_score,
        f"v{decision.champion_version}" if decision.champion_version else "none",
        "n/a" if decision.champion_score is None else f"{decision.champion_score:.4f}",
    )
