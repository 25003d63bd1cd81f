"""The steps of a training run, as plain functions over the ML core and the registry.

The Prefect flow wraps each step in a named task; the plain path (`--no-prefect`) calls them
directly. Both go through `run_training`, so the sequence is written once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from sentiment_mlops.core.data import Reviews, load_reviews
from sentiment_mlops.core.evaluation import Evaluation, evaluate
from sentiment_mlops.core.model import train_model
from sentiment_mlops.core.params import TrainingParams, load_params
from sentiment_mlops.core.split import Split, split_reviews
from sentiment_mlops.flows.inputs import choose_data_path, choose_params_path
from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
# run_step(name, function, *args) -> function(*args); the Prefect flow runs it as a task.
StepRunner = Callable[..., Any]


def call_directly(name: str, function: Callable[..., T], *args: Any) -> T:
    """The plain step runner: log the step and call it."""
    logger.info("step %s", name)
    return function(*args)


@dataclass(frozen=True)
class TrainingRequest:
    """What to train on and what to do with the result."""

    data_path: Path
    params_path: Path
    experiment: str
    model_name: str
    champion_metric: str  # from CHAMPION_METRIC: `default_request` fills it in
    champion: bool = False
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
class TrainingResult:
    """What a training run produced; serialisable, so a Prefect flow can return it."""

    run_id: str
    metrics: dict[str, float]
    data_path: str
    rows: int
    version: str | None = None
    promotion: PromotionDecision | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def became_champion(self) -> bool:
        return bool(self.promotion and self.promotion.promoted)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"became_champion": self.became_champion}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingResult:
        """The inverse of `as_dict` (a Prefect flow returns the dict form)."""
        values = {key: value for key, value in values.items() if key != "became_champion"}
        promotion = values.pop("promotion", None)
        return cls(**values, promotion=PromotionDecision(**promotion) if promotion else None)


def load_data(path: Path) -> Reviews:
    reviews = load_reviews(path)
    logger.info("loaded %d reviews from %s", len(reviews.frame), path)
    return reviews


def split_data(reviews: Reviews, params: TrainingParams) -> Split:
    return split_reviews(reviews.texts, reviews.labels, params.data)


def evaluate_model(model: Any, split: Split) -> Evaluation:
    evaluation = evaluate(model, split.test_texts, split.test_labels)
    scores = ", ".join(
        f"{name}={value:.4f}" for name, value in evaluation.metrics.as_dict().items()
    )
    logger.info("held-out metrics on %d reviews: %s", len(split.test_texts), scores)
    return evaluation


def write_dvc_outputs(
    evaluation: Evaluation, metrics_file: Path | None, plots: Path | None
) -> None:
    """Metrics as flat JSON and plot data as CSV, for `dvc metrics` / `dvc plots`."""
    if metrics_file is not None:
        metrics_file.parent.mkdir(parents=True, exist_ok=True)
        metrics_file.write_text(json.dumps(evaluation.metrics.as_dict(), indent=2) + "\n")
    if plots is not None:
        import pandas as pd

        plots.mkdir(parents=True, exist_ok=True)
        evaluation.roc_points().to_csv(plots / "roc_curve.csv", index=False)
        pd.DataFrame({"actual": evaluation.labels, "predicted": evaluation.predicted}).to_csv(
            plots / "predictions.csv", index=False
        )


def run_training(
    request: TrainingRequest, settings: Settings, run_step: StepRunner = call_directly
) -> TrainingResult:
    """Load, split, train, evaluate, log, register and (optionally) promote.

    Each step goes through `run_step`, which is a direct call or a Prefect task.
    """
    from sentiment_mlops.flows import tracking

    params = load_params(request.params_path)
    tracker = tracking.Tracker.connect(
        settings, request.experiment, check_registry=request.register
    )
    reviews = run_step("load-data", load_data, request.data_path)
    split = run_step("split-data", split_data, reviews, params)
    model = run_step("train-model", train_model, split, params)
    evaluation = run_step("evaluate-model", evaluate_model, model, split)
    write_dvc_outputs(evaluation, request.metrics_file, request.plots_dir)

    run_id, model_uri = run_step(
        "log-mlflow", tracker.log_run, model, reviews, split, params, evaluation, request
    )
    result = TrainingResult(
        run_id=run_id,
        metrics=evaluation.metrics.as_dict(),
        data_path=str(request.data_path),
        rows=len(reviews.frame),
    )
    if not request.register:
        return result
    version = run_step(
        "register-model", tracker.register, request.model_name, model_uri, run_id, evaluation
    )
    promotion = None
    if request.champion:
        promotion = run_step(
            "set-champion-alias",
            tracker.promote_if_better,
            request.model_name,
            version,
            split,
            evaluation,
            request.champion_metric,
        )
    return replace(result, version=version, promotion=promotion)


def default_request(settings: Settings, **overrides: Any) -> TrainingRequest:
    """A request from the settings; the paths the user does not give, see `flows.inputs`."""
    values: dict[str, Any] = {
        "experiment": settings.experiment_name,
        "model_name": settings.model_name,
        "champion_metric": settings.champion_metric,
    }
    values.update({key: value for key, value in overrides.items() if value is not None})
    if "data_path" not in values:
        values["data_path"] = choose_data_path(settings)
    if "params_path" not in values:
        values["params_path"] = choose_params_path(settings)
    return TrainingRequest(**values)
