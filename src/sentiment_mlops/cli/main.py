"""The `sentiment` console script.

Heavy libraries (MLflow, Prefect, scikit-learn) are imported inside the commands that need them,
so `sentiment --help` answers at once. User errors end with one line on stderr and exit code 2.
"""

from __future__ import annotations

import atexit
import gc
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sentiment_mlops.cli.data import data_app
from sentiment_mlops.cli.errors import EXIT_FAILURE, ErrorMappingGroup, fail, missing_extras
from sentiment_mlops.cli.monitor import monitor_app
from sentiment_mlops.cli.rollout import register_rollout_commands
from sentiment_mlops.cli.runtime import (
    DataPathOption,
    ExperimentOption,
    ModelNameOption,
    configure_logging,
    exit_on_sigterm,
    registry_client,
    start_local_prefect,
)
from sentiment_mlops.cli.score import score_app
from sentiment_mlops.cli.serve import serve_app, webhook_app
from sentiment_mlops.cli.stack import stack_app
from sentiment_mlops.cli.tune import tune_app
from sentiment_mlops.process import configure_process
from sentiment_mlops.settings import Settings, get_settings

if TYPE_CHECKING:
    from sentiment_mlops.flows.types import TrainingRequest, TrainingResult
    from sentiment_mlops.registry import ModelRef

app = typer.Typer(
    name="sentiment",
    help="Train, track, promote and serve a movie-review sentiment classifier.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=ErrorMappingGroup,  # our errors end every command with one line and their exit code
)
# No group name: `serve` joins the top-level commands, listed after them as before.
app.add_typer(serve_app)
app.add_typer(score_app)  # `sentiment score`
app.add_typer(monitor_app)  # `sentiment monitor`
app.add_typer(tune_app)  # `sentiment tune`
app.add_typer(data_app, name="data")
app.add_typer(stack_app, name="stack")
app.add_typer(webhook_app, name="webhook")
register_rollout_commands(app)  # promote, challenger clear, rollout report


@app.callback()
def _configure_process() -> None:
    # The CLI's entry: every command runs with MLflow (and Prefect) configured from the settings.
    configure_process(get_settings())


@app.command()
def train(
    data_path: DataPathOption = None,
    params: Annotated[Path | None, typer.Option(help="Params file (default: PARAMS_PATH)")] = None,
    champion: Annotated[
        bool, typer.Option("--champion", help="Promote to champion if it beats the current one")
    ] = False,
    challenger: Annotated[
        bool,
        typer.Option(
            "--challenger", help="Make it the challenger if it meets the params' quality floor"
        ),
    ] = False,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Log the run but register no version")
    ] = False,
    no_prefect: Annotated[
        bool, typer.Option("--no-prefect", help="Run the steps directly, without Prefect")
    ] = False,
    experiment: ExperimentOption = None,
    model_name: ModelNameOption = None,
    metrics_file: Annotated[
        Path | None, typer.Option(help="Also write the metrics as JSON here (for DVC)")
    ] = None,
    plots_dir: Annotated[
        Path | None, typer.Option(help="Also write ROC and prediction CSVs here (for DVC)")
    ] = None,
) -> None:
    """Train a model, log it to MLflow, register it and optionally make it champion."""
    from sentiment_mlops.flows.inputs import missing_input, training_request

    settings = get_settings()
    configure_logging(settings)
    exit_on_sigterm()
    if champion and no_register:
        fail("--champion needs a registered version; drop --no-register")
    if challenger and (champion or no_register):
        fail("--challenger goes alone: drop --champion and --no-register")
    request = training_request(
        settings,
        data_path=data_path,
        params_path=params,
        experiment=experiment,
        model_name=model_name,
        champion=champion,
        challenger=challenger,
        register=not no_register,
        metrics_file=metrics_file,
        plots_dir=plots_dir,
    )
    problem = missing_input(request.data_path, request.params_path)
    if problem:  # checked before anything starts
        fail(problem)
    if no_prefect:
        from sentiment_mlops.flows.steps import run_training

        result = run_training(request, settings)
    else:
        result = _run_flow(request, settings)
    from sentiment_mlops.cli.reporting import print_training_result

    print_training_result(result)


def _run_flow(request: TrainingRequest, settings: Settings) -> TrainingResult:
    """The training flow in this process, on Prefect's temporary server when none is set."""
    local_server = start_local_prefect(settings)
    from sentiment_mlops.flows.tracking import Tracker

    # The flow connects first too, but here an unreachable store fails before Prefect is waited
    # for, in one line rather than a flow-run traceback.
    Tracker.connect(settings, request.experiment, check_registry=request.register)
    # Import the heavy libraries while the local Prefect server starts.
    import mlflow.sklearn  # noqa: F401

    from sentiment_mlops.flows.training import requested_training

    if local_server is not None:
        local_server.wait_ready()
    return requested_training(request)


AliasOption = Annotated[str | None, typer.Option(help="Alias to use (default: MODEL_ALIAS)")]


def _name_and_alias(
    settings: Settings, model_name: str | None, alias: str | None
) -> tuple[str, str]:
    return model_name or settings.model_name, alias or settings.model_alias


def _version_at(client: Any, name: str, alias: str) -> ModelRef:
    """The version behind `name@alias`; a missing one ends the command (exit 1)."""
    from sentiment_mlops import registry

    ref = registry.get_alias(client, name, alias)
    if ref is None:
        fail(f"model {name!r} has no version with alias {alias!r}", EXIT_FAILURE)
    return ref


@app.command("model-info")
def model_info(model_name: ModelNameOption = None, alias: AliasOption = None) -> None:
    """Show the version an alias points at, with its run and metrics."""
    from sentiment_mlops import registry
    from sentiment_mlops.cli.reporting import print_model_info

    settings = get_settings()
    name, alias = _name_and_alias(settings, model_name, alias)
    client = registry_client(settings)
    ref = _version_at(client, name, alias)
    print_model_info(ref, alias, registry.run_metrics(client, ref.run_id))
    if alias == settings.model_alias:
        challenger = registry.get_alias(client, name, settings.challenger_alias)
        if challenger is not None:
            typer.echo(f"{settings.challenger_alias}: version {challenger.version}")


@app.command()
def models(model_name: ModelNameOption = None) -> None:
    """List every version of the model with its aliases and main metric."""
    from sentiment_mlops import registry
    from sentiment_mlops.cli.reporting import print_versions

    settings = get_settings()
    name = model_name or settings.model_name
    versions = registry.list_versions(registry_client(settings), name)
    if not versions:
        fail(f"model {name!r} has no registered versions", EXIT_FAILURE)
    print_versions(name, versions, settings.champion_metric)


@app.command("set-alias")
def set_alias(
    version: Annotated[str, typer.Option(help="Version number to point the alias at")],
    alias: AliasOption = None,
    model_name: ModelNameOption = None,
) -> None:
    """Point an alias at a version (setting MODEL_ALIAS moves the old one to `previous`)."""
    from sentiment_mlops import registry

    settings = get_settings()
    name, alias = _name_and_alias(settings, model_name, alias)
    if not version.isdigit():
        fail(f"--version must be a version number, got {version!r}")
    client = registry_client(settings)
    if alias == settings.model_alias:
        registry.get_version(client, name, version)
        registry.promote(client, name, version, alias)
    else:
        registry.set_alias(client, name, alias, version)
    typer.echo(f"{name}@{alias} -> version {version}")


@app.command()
def rollback(model_name: ModelNameOption = None) -> None:
    """Give MODEL_ALIAS back to the version that had it before (`previous`)."""
    from sentiment_mlops import registry

    settings = get_settings()
    name, alias = _name_and_alias(settings, model_name, None)
    client = registry_client(settings)
    previous = registry.get_alias(client, name, registry.PREVIOUS_ALIAS)
    if previous is None:
        fail(f"model {name!r} has no 'previous' version to roll back to", EXIT_FAILURE)
    registry.promote(client, name, previous.version, alias)
    typer.echo(f"{name}@{alias} -> version {previous.version} (rolled back)")


@app.command()
def predict(
    texts: Annotated[list[str], typer.Argument(help="Review texts to classify")],
    model_name: ModelNameOption = None,
    alias: AliasOption = None,
) -> None:
    """Classify texts with the model behind an alias (a smoke test of the registry)."""
    from sentiment_mlops import registry
    from sentiment_mlops.cli.reporting import print_predictions

    settings = get_settings()
    name, alias = _name_and_alias(settings, model_name, alias)
    if not any(text.strip() for text in texts):
        fail("give at least one non-empty text")
    client = registry_client(settings)
    ref = _version_at(client, name, alias)
    print_predictions(texts, registry.load_model(client, ref), ref)


def main() -> None:
    """Console-script entry point."""
    # At exit, Python's last garbage collection walks every object of the ~3,400 modules that
    # MLflow and Prefect load (about 1 s here); freezing them first skips that walk.
    atexit.register(gc.freeze)
    with missing_extras():  # a role installed without the extra this command needs
        app(prog_name="sentiment")
