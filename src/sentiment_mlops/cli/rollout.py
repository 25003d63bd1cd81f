"""`sentiment promote`, `sentiment challenger clear` and `sentiment rollout report`.

The challenger's life after `sentiment train --challenger`: the service tries it on live traffic
(ROLLOUT_MODE), the report compares it with the champion, and an operator promotes or clears it.
The alias moves live in `flows.challenger`, under the promotion lock.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sentiment_mlops.cli.errors import EXIT_FAILURE, fail
from sentiment_mlops.cli.runtime import ModelNameOption, registry_client
from sentiment_mlops.settings import get_settings

challenger_app = typer.Typer(help="The challenger alias (CHALLENGER_ALIAS).", no_args_is_help=True)
rollout_app = typer.Typer(help="Champion against challenger on live traffic.", no_args_is_help=True)


def register_rollout_commands(app: typer.Typer) -> None:
    """Add this module's commands to the `sentiment` app."""
    app.command()(promote)
    app.add_typer(challenger_app, name="challenger")
    app.add_typer(rollout_app, name="rollout")


def promote(model_name: ModelNameOption = None) -> None:
    """Make the challenger champion (the old one keeps `previous`); drop the challenger alias."""
    from sentiment_mlops.flows.challenger import promote_challenger

    settings = get_settings()
    name = model_name or settings.model_name
    done = promote_challenger(registry_client(settings), settings, name)
    was = f" (was version {done.previous_version})" if done.previous_version else ""
    typer.echo(f"{name}@{settings.model_alias} -> version {done.version}{was}")


@challenger_app.command("clear")
def clear(model_name: ModelNameOption = None) -> None:
    """Remove the challenger alias; the service returns to the champion alone."""
    from sentiment_mlops.flows.challenger import clear_challenger

    settings = get_settings()
    name = model_name or settings.model_name
    version = clear_challenger(registry_client(settings), settings, name)
    if version is None:
        typer.echo(f"{name} has no {settings.challenger_alias!r} alias: nothing to clear")
    else:
        typer.echo(f"{name}@{settings.challenger_alias} removed (was version {version})")


@rollout_app.command("report")
def report(
    since_hours: Annotated[
        float, typer.Option(help="Only predictions of the last this-many hours", min=0.001)
    ] = 24.0,
    do_promote: Annotated[
        bool, typer.Option("--promote", help="Promote the challenger if the report says so")
    ] = False,
    model_name: ModelNameOption = None,
) -> None:
    """Per variant: requests, agreement, live accuracy, latency, and a recommendation."""
    from sentiment_mlops.cli.reporting import print_rollout_report
    from sentiment_mlops.monitoring import rollout_report, tables
    from sentiment_mlops.monitoring.feedback import StoreUnavailableError

    settings = get_settings()
    name = model_name or settings.model_name
    if settings.prediction_log_url is None:
        fail("the report reads the prediction log: set PREDICTION_LOG_URL")
    engine = tables.make_engine(settings.prediction_log_url)
    try:
        found = rollout_report.build_report(engine, name, rollout_report.since_hours(since_hours))
    except StoreUnavailableError as error:
        fail(f"{error} (or has no predictions yet)")
    finally:
        engine.dispose()
    print_rollout_report(name, found)
    if do_promote:
        if found.recommendation != "promote":
            fail(f"not promoted: the recommendation is {found.recommendation}", EXIT_FAILURE)
        promote(model_name)
