"""`sentiment serve` and `sentiment webhook ...`: serve the champion and tell MLflow where it is.

The serving stack (FastAPI, uvicorn, the MLflow client) is imported inside the commands, so
`sentiment --help` stays fast. Errors go through `cli.errors`, like every command's.
"""

from __future__ import annotations

import errno
import socket
from typing import Annotated

import typer

from sentiment_mlops.cli.errors import fail
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
    host, port = host or settings.api_host, port or settings.api_port
    _check_can_listen(host, port)
    if register_webhook:
        _register_webhook(settings)
    run_server(settings, host=host, port=port, workers=workers)


def _check_can_listen(host: str, port: int) -> None:
    """Fail at once if the address is taken: uvicorn would only find out after starting the app
    (after "Application startup complete") and exit with code 3. Binds as uvicorn does."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                fail(f"port {port} on {host} is in use: choose another with --port or API_PORT")
            reason = error.strerror or str(error)
            fail(
                f"cannot listen on {host}:{port} ({reason}): "
                "change --host or API_HOST, or --port or API_PORT"
            )


@webhook_app.command("register")
def webhook_register() -> None:
    """Create (or update) the MLflow webhook that calls the API on champion changes."""
    _register_webhook(get_settings())


def _register_webhook(settings: Settings) -> None:
    from sentiment_mlops.redaction import redactor_for
    from sentiment_mlops.serving.webhooks import register_webhook

    if settings.uses_local_store:
        fail("webhooks need an MLflow server: set MLFLOW_TRACKING_URI to its http(s) URL")
    if settings.webhook_secret is None or not settings.webhook_url:
        fail("set WEBHOOK_SECRET and WEBHOOK_URL (where the MLflow server reaches this API)")
    webhook_id = register_webhook(settings)
    # A basic-auth proxy in front of the API puts a password in WEBHOOK_URL: never print it.
    typer.echo(f"webhook {webhook_id} -> {redactor_for(settings)(settings.webhook_url)}")
