"""The steps of a training run, as plain functions over the ML core and the registry.

The Prefect flow wraps each step in a named task; the plain path (`--no-prefect`) calls them
directly. Both go through `run_training`, so the sequence is written once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar

from sentiment_mlops.core.data import Reviews, load_reviews
from sentiment_mlops.core.evaluation import Evaluation, evaluate
from sentiment_mlops.core.model import train_model
from sentiment_mlops.core.params import TrainingParams, load_params
from sentiment_mlops.core.split import Split, split_reviews
from sentiment_mlops.flows.challenger import nominate_challenger
from sentiment_mlops.flows.promotion import promote_if_better
from sentiment_mlops.flows.tracking import Tracker
from sentiment_mlops.flows.types import TrainingRequest, TrainingResult
from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class StepRunner(Protocol):
    """Runs one named step, `step(*args, **kwargs)`, and returns what the step returns."""

    def __call__(
        self, name: str, step: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...


def call_directly(name: str, step: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """The plain step runner: log the step and call it."""
    logger.info("step %s", name)
    return step(*args, **kwargs)


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
    """Load, split, train, evaluate, log, register and (optionally) promote or nominate.

    Each step goes through `run_step`, which is a direct call or a Prefect task.
    """
    params = load_params(request.params_path)
    tracker = Tracker.connect(settings, request.experiment, check_registry=request.register)
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
        data_path=request.data_path,
        rows=len(reviews.frame),
    )
    if not request.register:
        return result
    registered = run_step(
        "register-model", tracker.register, request.model_name, model_uri, run_id, evaluation
    )
    promotion = None
    if request.champion:
        promotion = run_step(
            "set-champion-alias",
            promote_if_better,
            tracker.client,
            settings,
            registered,
            evaluation,
            split,
            request.champion_metric,
        )
    challenger = None
    if request.challenger:
        challenger = run_step(
            "set-challenger-alias",
            nominate_challenger,
            tracker.client,
            settings,
            registered,
            evaluation,
            request.champion_metric,
            params.challenger.quality_floor,
        )
    return replace(result, version=registered.version, promotion=promotion, challenger=challenger)
