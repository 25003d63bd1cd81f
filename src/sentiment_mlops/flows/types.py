"""What a training run is asked to do and what it gives back.

Plain frozen values in a module of their own, so that the parts of the training path (inputs,
steps, tracking, promotion, the flow, the CLI) all name them without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrainingRequest:
    """What to train on and what to do with the result (`flows.inputs.training_request`)."""

    data_path: Path
    params_path: Path
    experiment: str
    model_name: str
    champion_metric: str  # CHAMPION_METRIC, validated by the settings
    champion: bool = False
    challenger: bool = False  # give the version the challenger alias (if over the floor)
    register: bool = True
    metrics_file: Path | None = None
    plots_dir: Path | None = None


@dataclass(frozen=True)
class PromotionDecision:
    """Challenger against champion on the same held-out rows; ties keep the champion."""

    metric: str
    challenger_version: str
    challenger_score: float
    champion_version: str | None
    champion_score: float | None
    promoted: bool
    reason: str


@dataclass(frozen=True)
class ChallengerDecision:
    """Whether a new version took the challenger alias: its score against the params' floor."""

    version: str
    metric: str
    score: float
    floor: float
    nominated: bool
    replaced_version: str | None  # the challenger it displaced, if any


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced: its MLflow run, scores, version and champion decision."""

    run_id: str
    metrics: dict[str, float]
    data_path: Path
    rows: int
    version: str | None = None
    promotion: PromotionDecision | None = None
    challenger: ChallengerDecision | None = None

    @property
    def became_champion(self) -> bool:
        return self.promotion is not None and self.promotion.promoted
