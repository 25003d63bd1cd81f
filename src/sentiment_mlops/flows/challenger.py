"""The challenger's aliases: nominate a new version, promote it to champion, or clear it.

A challenger is a version tried on live traffic (`ROLLOUT_MODE`) before it serves everyone. It
takes CHALLENGER_ALIAS only if its held-out CHAMPION_METRIC meets the params' quality floor, and
it never touches MODEL_ALIAS: offline scores decide whether a version may be *tried*, live
traffic whether it should *win*. Promotion moves it to MODEL_ALIAS exactly as the champion rule
does (`registry.promote`: the old champion keeps `previous`) and removes the challenger alias.
Every alias move here holds `promotion_lock.champion_lock`, like the champion decision, so a
promotion never interleaves with a training's compare-and-promote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentiment_mlops import registry
from sentiment_mlops.core.metrics import meets_floor
from sentiment_mlops.errors import NotFoundError
from sentiment_mlops.flows.promotion_lock import champion_lock
from sentiment_mlops.flows.types import ChallengerDecision
from sentiment_mlops.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sentiment_mlops.core.evaluation import Evaluation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Promotion:
    """What `promote_challenger` moved: the new champion and the version it replaced."""

    name: str
    version: str
    previous_version: str | None


def nominate_challenger(
    client: MlflowClient,
    settings: Settings,
    registered: registry.ModelRef,
    evaluation: Evaluation,
    metric: str,
    floor: float,
) -> ChallengerDecision:
    """Give `registered` CHALLENGER_ALIAS if its score meets `floor`; MODEL_ALIAS is untouched."""
    score = evaluation.metrics.score(metric)
    nominated = meets_floor(metric, score, floor)
    replaced = None
    if nominated:
        with champion_lock(settings):
            old = registry.get_alias(client, registered.name, settings.challenger_alias)
            replaced = old.version if old and old.version != registered.version else None
            registry.set_alias(
                client, registered.name, settings.challenger_alias, registered.version
            )
    decision = ChallengerDecision(
        registered.version, metric, score, floor, nominated, replaced_version=replaced
    )
    logger.info(
        "challenger decision: v%s %s (%s=%.4f, floor %.4f)",
        registered.version,
        "nominated" if nominated else "below the quality floor, not nominated",
        metric,
        score,
        floor,
    )
    return decision


def promote_challenger(client: MlflowClient, settings: Settings, name: str) -> Promotion:
    """Move the challenger to MODEL_ALIAS (old champion -> `previous`) and drop its alias."""
    with champion_lock(settings):
        challenger = registry.get_alias(client, name, settings.challenger_alias)
        if challenger is None:
            raise NotFoundError(
                f"model {name!r} has no version with alias {settings.challenger_alias!r}"
            )
        old = registry.promote(client, name, challenger.version, settings.model_alias)
        registry.delete_alias(client, name, settings.challenger_alias)
    previous = old.version if old is not None and old.version != challenger.version else None
    logger.info("promoted challenger v%s to %s", challenger.version, settings.model_alias)
    return Promotion(name, challenger.version, previous)


def clear_challenger(client: MlflowClient, settings: Settings, name: str) -> str | None:
    """Remove CHALLENGER_ALIAS; the version it named (None: there was none)."""
    with champion_lock(settings):
        challenger = registry.get_alias(client, name, settings.challenger_alias)
        if challenger is not None:
            registry.delete_alias(client, name, settings.challenger_alias)
    return challenger.version if challenger else None
