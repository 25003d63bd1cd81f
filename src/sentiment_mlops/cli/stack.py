"""`sentiment stack ...`: the full stack as local processes, without Docker.

`up` starts supervisord, which runs S3 (SeaweedFS), the MLflow server, the Prefect server with a
worker and the training deployment, and the API, on 127.0.0.1; it stays in the foreground until
Ctrl-C (or returns at once with `--detach`); `down` stops supervisord and every service; `status`
shows each service as supervisord and our health checks see it. The stack package is imported
inside the commands, so `sentiment --help` stays fast.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from sentiment_mlops.cli.errors import EXIT_FAILURE, fail

stack_app = typer.Typer(
    help="Run the full stack (S3, MLflow, Prefect, worker, API, Prometheus) as local processes, "
    "no Docker.",
    no_args_is_help=True,
    add_completion=False,
)


def _stack() -> Any:
    from sentiment_mlops.settings import get_settings
    from sentiment_mlops.stack.lifecycle import Stack

    settings = get_settings()
    return Stack(
        settings.stack,
        report=lambda line: typer.echo(line, err=True),
        webhook_secret=settings.webhook_secret,  # the API's WEBHOOK_SECRET, when set
    )


@stack_app.command()
def up(
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Return once healthy; stop with `stack down`")
    ] = False,
) -> None:
    """Start every service, wait until each is healthy, print the URLs."""
    stack = _stack()
    # SIGTERM (and SIGHUP) stop the stack like Ctrl-C does.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_keyboard_interrupt)
    try:
        stack.up()  # a busy port is a UserError (exit 2), a stack that cannot start exits 1
    except KeyboardInterrupt:
        fail("interrupted; stopped what had started", EXIT_FAILURE)
    _print_summary(stack)
    if detach:
        typer.echo("running in the background; stop it with `sentiment stack down`")
        return
    typer.echo("press Ctrl-C to stop the stack")
    try:
        stack.follow()
    except KeyboardInterrupt:
        pass
    finally:
        # Whatever ended the wait (Ctrl-C, a closed terminal), stop what was started; a second
        # Ctrl-C must not leave half the services running.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        with contextlib.suppress(OSError):
            typer.echo("\nstopping the stack")
        stack.down()


@stack_app.command()
def down() -> None:
    """Stop every service that `stack up` started, and supervisord."""
    stack = _stack()
    stopped = stack.down()
    typer.echo(f"stopped {len(stopped)} service(s)" if stopped else "no stack service was running")


@stack_app.command()
def status() -> None:
    """Show each service: supervisord's state, PID and uptime, our health check, URL; for the
    API, what its /health says.

    Exit code 1 when a service is stopped or does not answer; an API that answers without a
    model (`up, no model loaded (503)`) is a working stack that has no champion yet.
    """
    from rich.console import Console
    from rich.table import Table

    from sentiment_mlops.stack.lifecycle import GONE

    rows = _stack().status()
    if not rows:
        typer.echo("no stack has been started here (see `sentiment stack up`)")
        raise typer.Exit(EXIT_FAILURE)
    table = Table("service", "supervisord", "pid", "uptime", "state", "url")
    for row in rows:
        pid = str(row["pid"]) if row["pid"] else "-"
        cells = (row["supervisor"], pid, row["uptime"], row["state"], row["url"] or "")
        table.add_row(row["name"], *cells)
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        console.width = 200  # piped: one line per service, not wrapped at 80 columns
    console.print(table)
    console.print(f"logs: {Path(rows[0]['log']).parent}")
    if any(row["supervisor"] == GONE for row in rows):
        console.print(
            "supervisord is gone (killed?): these services run unsupervised, a crash is not "
            "restarted; stop them with `sentiment stack down`"
        )
    if not all(row["healthy"] for row in rows):
        raise typer.Exit(EXIT_FAILURE)


@stack_app.command()
def restart(
    service: Annotated[
        str,
        typer.Argument(
            help="s3, mlflow, prefect, worker, prometheus, api (every replica, one at a time) "
            "or api-N (one replica)"
        ),
    ],
) -> None:
    """Restart one service through supervisord (same command and environment), wait until
    it is healthy. `api` restarts the API replicas one at a time behind HAProxy: requests keep
    being answered."""
    seconds = _stack().restart(service)  # a StackError ends the command with exit 1
    if service == "api":
        typer.echo(f"api: every replica restarted, one at a time, in {seconds:.1f} s")
    else:
        typer.echo(f"{service} restarted, healthy after {seconds:.1f} s")


def _print_summary(stack: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("", "URL", show_header=False, title="The stack is up", title_justify="left")
    for label, url in stack.urls().items():
        table.add_row(label, url)
    console = Console(soft_wrap=True)
    console.print(table)
    timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stack.timings.items())
    console.print(f"ready in: {timings}")
    console.print(f"logs: {stack.settings.logs.resolve()}")
    console.print(
        f"deployment: sentiment-training/{stack.settings.deployment_name} "
        f"(pool {stack.settings.work_pool})"
    )
    console.print(f"use it from a shell: source {stack.env_file}")


def _raise_keyboard_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt
