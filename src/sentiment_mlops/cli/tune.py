"""`sentiment tune`: search the params by cross-validation (the Prefect flow `sentiment-tuning`).

Heavy libraries (Optuna, MLflow, Prefect) are imported inside the command, so `sentiment
--help` stays fast. Inputs are checked before anything starts; errors end with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sentiment_mlops.cli.errors import fail
from sentiment_mlops.cli.runtime import (
    DataPathOption,
    ExperimentOption,
    configure_logging,
    start_local_prefect,
)

# Mounted without a group name: `tune` is a top-level command.
tune_app = typer.Typer()


@tune_app.command()
def tune(
    trials: Annotated[int, typer.Option(min=1, help="Trials to run at most")] = 20,
    timeout: Annotated[
        float | None, typer.Option(min=1, help="Stop starting trials after this many seconds")
    ] = None,
    data_path: DataPathOption = None,
    params: Annotated[
        Path | None, typer.Option(help="Params file to start from (default: PARAMS_PATH)")
    ] = None,
    write_params: Annotated[
        bool,
        typer.Option(
            "--write-params", help="Write the best settings into the params file (comments kept)"
        ),
    ] = False,
    folds: Annotated[int, typer.Option(min=2, help="Stratified cross-validation folds")] = 5,
    repeats: Annotated[int, typer.Option(min=1, help="Repeat the k folds with other shuffles")] = 1,
    seed: Annotated[
        int | None, typer.Option(min=0, help="Seed of the search (default: data.random_state)")
    ] = None,
    experiment: ExperimentOption = None,
) -> None:
    """Tune the feature and model params by cross-validation on the training split only."""
    from sentiment_mlops.core.params import load_params
    from sentiment_mlops.flows.inputs import choose_data_path, choose_params_path, missing_input
    from sentiment_mlops.settings import get_settings

    settings = get_settings()
    configure_logging(settings)
    data_path = data_path or choose_data_path(settings)
    params = params or choose_params_path(settings)
    if problem := missing_input(data_path, params):
        fail(problem)
    # Bad params or data end here, in one line (exit 2), before Prefect starts; the flow reads
    # them again, as a deployment's run gets only their paths. Params first, as they need
    # neither pandas nor scikit-learn; the split's scikit-learn (~2 CPU s to import) comes last.
    data_params = load_params(params).data
    from sentiment_mlops.core.data import load_reviews

    reviews = load_reviews(data_path)
    from sentiment_mlops.core.split import split_reviews

    split = split_reviews(reviews.texts, reviews.labels, data_params)
    if split.train_labels.value_counts().min() < folds:
        fail(f"--folds {folds} needs at least {folds} training reviews of each label")
    local_server = start_local_prefect(settings)

    from sentiment_mlops.flows.tuning import tuning_flow

    if local_server is not None:
        local_server.wait_ready()
    result = tuning_flow(
        data_path=str(data_path),
        params_path=str(params),
        trials=trials,
        timeout=timeout,
        folds=folds,
        repeats=repeats,
        seed=seed,
        experiment=experiment,
        write=write_params,
    )
    _print_result(result)


def _print_result(result: dict) -> None:
    metrics = result["metrics"]
    typer.echo(
        f"best: trial {result['trial']} (run {result['run_id']}, parent run "
        f"{result['parent_run_id']}): CV accuracy {metrics['cv_accuracy_mean']:.4f} ± "
        f"{metrics['cv_accuracy_std']:.4f}, ROC AUC {metrics['cv_roc_auc_mean']:.4f} ± "
        f"{metrics['cv_roc_auc_std']:.4f} ({metrics['trials_complete']:.0f} complete, "
        f"{metrics['trials_pruned']:.0f} pruned)"
    )
    for key, value in result["params"].items():
        if not key.startswith("data."):
            typer.echo(f"  {key}: {value}")
    for path in result.get("written", []):
        typer.echo(f"wrote the best settings to {path}")
