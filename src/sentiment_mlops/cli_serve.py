"""`sentiment serve` and `sentiment webhook ...`: serve the champion and tell MLflow where it is.

The serving stack (FastAPI, uvicorn, the MLflow client) is imported inside the commands, so
`sentiment --help` stays fast. Errors go through `cli_errors`, like every command's.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sentiment_mlops.cli_errors import fail, user_errors
from sentiment_mlops.settings import Settings, get_settings

# `serve` is mounted without a group name, so it stays the top-level `sentiment serve`.
serve_app = typer.Typer()
webhook_app = typer.Typer(help="MLflow registry webhooks that tell the API about a new champion.")


@serve_app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: API_HOST)")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: API_PORT)", min=1, max=65535)
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: API_WORKERS)", min=1)
    ] = None,
    register_webhook: Annotated[
        bool,
        typer.Option(
            "--register-webhook",
            help="Register this service's MLflow webhook first (needs an MLflow server)",
        ),
    ] = False,
) -> None:
    """Serve the champion over HTTP; a new champion is picked up without a restart."""
    from sentiment_mlops.serving.server import run_server

    settings = get_settings()
    if register_webhook:
        _register_webhook(settings)
    run_server(settings, host=host, port=port, workers=workers)


@webhook_app.command("register")
def webhook_register() -> None:
    """Create (or update) the MLflow webhook that calls the API on champion changes."""
    _register_webhook(get_settings())


def _register_webhook(settings: Settings) -> None:
    from sentiment_mlops.serving.webhooks import register_webhook

    if settings.uses_local_store:
        fail("webhooks need an MLflow server: set MLFLOW_TRACKING_URI to its http(s) URL")
    if settings.webhook_secret is None or not settings.webhook_url:
        fail("set WEBHOOK_SECRET and WEBHOOK_URL (where the MLflow server reaches this API)")
    with user_errors():
        webhook_id = register_webhook(settings)
    typer.echo(f"webhook {webhook_id} -> {settings.webhook_url}")
