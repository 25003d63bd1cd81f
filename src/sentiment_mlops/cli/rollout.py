"""`sentiment promote`, `sentiment challenger clear` and `sentiment rollout report`.

The challenger's life after `sentiment train --challenger`: the service tries it on live traffic
(ROLLOUT_MODE), the report compares it with the champion, and an operator promotes or clears it.
The alias moves live in `flows.challenger`, under the promotion lock.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sentiment_mlops.settings import Settings, get_settings

ModelName = Annotated[
    str | None, typer.Option("--model-name", help="Registered model name (default: MODEL_NAME)")
]

challenger_app = typer.Typer(help="The challenger alias (CHALLENGER_ALIAS).", no_args_is_help=True)


def register_rollout_commands(app: typer.Typer) -> None:
    """Add this module's commands to the `sentiment` app."""
    app.command()(promote)
    app.add_typer(challenger_app, name="challenger")


def _client(settings: Settings) -> Any:
    from sentiment_mlops import registry

    registry.configure_mlflow(settings)
    return registry.make_client(settings)


def promote(model_name: ModelName = None) -> None:
    """Make the challenger champion (the old one keeps `previous`); drop the challenger alias."""
    from sentiment_mlops.flows.challenger import promote_challenger

    settings = get_settings()
    name = model_name or settings.model_name
    done = promote_challenger(_client(settings), settings, name)
    was = f" (was version {done.previous_version})" if done.previous_version else ""
    typer.echo(f"{name}@{settings.model_alias} -> version {done.version}{was}")


@challenger_app.command("clear")
def clear(model_name: ModelName = None) -> None:
    """Remove the challenger alias; the service returns to the champion alone."""
    from sentiment_mlops.flows.challenger import clear_challenger

    settings = get_settings()
    name = model_name or settings.model_name
    version = clear_challenger(_client(settings), settings, name)
    if version is None:
        typer.echo(f"{name} has no {settings.challenger_alias!r} alias: nothing to clear")
    else:
        typer.echo(f"{name}@{settings.challenger_alias} removed (was version {version})")
