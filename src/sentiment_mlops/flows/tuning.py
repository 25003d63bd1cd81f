"""The Prefect flow `sentiment-tuning`: an Optuna search over the params, by cross-validation.

Each trial builds `TrainingParams` from Optuna's choices (`search_space.py`) and scores them by
stratified k-fold cross-validation on the *training split* of the same split `sentiment train`
makes, so the test split that decides promotion is never seen while tuning. MLflow gets one
parent run for the study and a nested run per trial (its params, CV mean and spread, pruned or
not); the parent run holds the best trial's params and scores. A trial whose running mean
accuracy is below the median of earlier trials at the same fold stops there (MedianPruner).
The same data, params, seed and number of trials give the same trials (TPE seeded, one at a
time); a `timeout` may cut the study short.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentiment_mlops import registry
from sentiment_mlops.core.cross_validation import CVSummary, FoldScore, fold_scores
from sentiment_mlops.core.data import load_reviews
from sentiment_mlops.core.params import TrainingParams, load_params
from sentiment_mlops.core.split import split_reviews
from sentiment_mlops.flows.entry import entry_flow
from sentiment_mlops.flows.params_file import write_params
from sentiment_mlops.flows.search_space import TUNED_SECTIONS, suggest_params
from sentiment_mlops.settings import get_settings

FLOW_NAME = "sentiment-tuning"
OBJECTIVE = "cv_accuracy_mean"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuningRequest:
    """What one tuning run searches, on which data, and with what budget."""

    data_path: Path
    params_path: Path
    trials: int
    timeout: float | None
    folds: int
    repeats: int
    seed: int
    experiment: str | None
    write: bool


@entry_flow(FLOW_NAME)
def tuning_flow(
    data_path: str,
    params_path: str,
    trials: int = 20,
    timeout: float | None = None,
    folds: int = 5,
    repeats: int = 1,
    seed: int | None = None,
    experiment: str | None = None,
    write: bool = False,
) -> dict[str, Any]:
    """Search the params by cross-validation; log the study to MLflow; optionally write the
    best settings into the params file. `seed` defaults to the params' `data.random_state`."""
    base = load_params(Path(params_path))
    request = TuningRequest(
        Path(data_path),
        Path(params_path),
        trials,
        timeout,
        folds,
        repeats,
        base.data.random_state if seed is None else seed,
        experiment,
        write,
    )
    return run_tuning(request, base)


def run_tuning(request: TuningRequest, base: TrainingParams) -> dict[str, Any]:
    """The study, its MLflow runs and the written params; returns a summary for the CLI."""
    import optuna
    from mlflow.entities import RunStatus
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

    settings = get_settings()
    client = registry.make_client(settings)
    experiment_id = registry.ensure_experiment(client, settings, request.experiment)
    reviews = load_reviews(request.data_path)
    split = split_reviews(reviews.texts, reviews.labels, base.data)
    logger.info(
        "tuning on the %d training reviews of %s (%d held out, never used): %d trials, "
        "%d-fold CV x %d, seed %d",
        len(split.train_texts),
        request.data_path,
        len(split.test_texts),
        request.trials,
        request.folds,
        request.repeats,
        request.seed,
    )
    parent = client.create_run(experiment_id, tags={MLFLOW_RUN_NAME: "tuning"}).info.run_id
    registry_params = {
        "tuning.trials": request.trials,
        "tuning.timeout": request.timeout,
        "tuning.folds": request.folds,
        "tuning.repeats": request.repeats,
        "tuning.seed": request.seed,
        "tuning.objective": OBJECTIVE,
        "data.path": str(request.data_path.resolve()),
        "data.rows": len(reviews.frame),
        "data.train_rows": len(split.train_texts),
    }
    _log(client, parent, params=registry_params)

    def objective(trial: optuna.Trial) -> float:
        params = suggest_params(trial, base)
        child = client.create_run(
            experiment_id,
            tags={MLFLOW_PARENT_RUN_ID: parent, MLFLOW_RUN_NAME: f"trial-{trial.number}"},
        ).info.run_id
        trial.set_user_attr("run_id", child)
        _log(client, child, params=params.flat() | {"trial": trial.number})
        scores: list[FoldScore] = []
        try:
            for score in fold_scores(
                split.train_texts,
                split.train_labels,
                params,
                folds=request.folds,
                repeats=request.repeats,
                seed=request.seed,
            ):
                scores.append(score)
                trial.report(CVSummary.of(scores).accuracy_mean, len(scores) - 1)
                if trial.should_prune():
                    _finish(client, child, CVSummary.of(scores), "PRUNED", RunStatus.KILLED)
                    raise optuna.TrialPruned()
        except optuna.TrialPruned:
            raise  # its run is closed as pruned
        except Exception:  # a failed fit: its run says so, and the study stops with the error
            client.set_terminated(child, RunStatus.to_string(RunStatus.FAILED))
            raise
        summary = CVSummary.of(scores)
        trial.set_user_attr("summary", summary.as_metrics())
        _finish(client, child, summary, "COMPLETE", RunStatus.FINISHED)
        return summary.accuracy_mean

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own line per trial instead
    study = optuna.create_study(
        study_name=f"tuning-{parent}",
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=request.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    try:
        study.optimize(
            objective,
            n_trials=request.trials,
            timeout=request.timeout,
            callbacks=[_report_progress(request.trials)],
        )
        result = _best(study, base)
        _log(client, parent, params=_prefixed(result["params"]), metrics=result["metrics"])
        client.set_tag(parent, "best_trial_run_id", result["run_id"])
    except BaseException:
        client.set_terminated(parent, RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(parent, RunStatus.to_string(RunStatus.FINISHED))
    result["parent_run_id"] = parent
    if request.write:
        best = TrainingParams.model_validate(result["params_nested"])
        result["written"] = [
            str(p) for p in write_params(request.params_path, best, TUNED_SECTIONS)
        ]
    return result


def _best(study: Any, base: TrainingParams) -> dict[str, Any]:
    """The best complete trial: its params (flat and nested), CV scores and run."""
    import optuna

    complete = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    if not complete:
        raise RuntimeError("no trial completed: raise --trials or --timeout")
    best = study.best_trial
    params = suggest_params(optuna.trial.FixedTrial(best.params), base)
    pruned = len(study.get_trials(states=[optuna.trial.TrialState.PRUNED]))
    return {
        "trial": best.number,
        "run_id": best.user_attrs["run_id"],
        "params": params.flat(),
        "params_nested": params.model_dump(),
        "metrics": best.user_attrs["summary"]
        | {"trials_complete": len(complete), "trials_pruned": pruned},
    }


def _report_progress(total: int) -> Any:
    def report(study: Any, trial: Any) -> None:
        import optuna

        done = trial.number + 1
        if trial.state == optuna.trial.TrialState.PRUNED:
            outcome = f"pruned after {len(trial.intermediate_values)} folds"
        elif trial.state == optuna.trial.TrialState.COMPLETE:
            cv = trial.user_attrs["summary"]
            outcome = f"CV accuracy {cv['cv_accuracy_mean']:.4f} ± {cv['cv_accuracy_std']:.4f}"
        else:
            outcome = trial.state.name.lower()
        best = _best_value(study)
        logger.info("trial %d/%d: %s (best %s)", done, total, outcome, best)

    return report


def _best_value(study: Any) -> str:
    try:
        return f"{study.best_value:.4f}, trial {study.best_trial.number}"
    except ValueError:  # no complete trial yet
        return "none yet"


def _finish(client: Any, run_id: str, summary: CVSummary, state: str, status: Any) -> None:
    from mlflow.entities import RunStatus

    _log(client, run_id, metrics=summary.as_metrics() | {"cv_folds_done": summary.folds})
    client.set_tag(run_id, "trial_state", state)
    client.set_terminated(run_id, RunStatus.to_string(status))


def _log(
    client: Any,
    run_id: str,
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
) -> None:
    import time

    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        params=[Param(k, str(v)) for k, v in (params or {}).items()],
        metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
    )


def _prefixed(flat: dict[str, Any]) -> dict[str, Any]:
    return {f"best.{key}": value for key, value in flat.items()}
