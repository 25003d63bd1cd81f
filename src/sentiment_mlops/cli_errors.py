"""How every `sentiment` command ends on an error the user can act on: one line, an exit code.

The errors are mapped by class (`sentiment_mlops.errors`): the exit code is the error's own.
`ErrorMappingGroup` applies the mapping around every command of the app, settings errors
included, so a user error reads the same everywhere and never shows a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click
import typer
from typer.core import TyperGroup

from sentiment_mlops.errors import NotFoundError, UserError, exit_code, user_error_message

EXIT_USAGE = UserError.exit_code  # bad input, settings or registry state: change something
EXIT_FAILURE = NotFoundError.exit_code  # no such model, version or alias; no stack


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr, then exit: what the user must fix, no traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn our errors (`SentimentError` and its subclasses) into `fail` with their exit code."""
    try:
        yield
    except Exception as error:
        message = user_error_message(error)
        if message is None:
            raise
        fail(message, exit_code(error))


class ErrorMappingGroup(TyperGroup):
    """A command group that ends any of its commands' user errors with `fail`."""

    def invoke(self, ctx: click.Context) -> Any:
        with user_errors():
            return super().invoke(ctx)
