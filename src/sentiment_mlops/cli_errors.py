"""How every `sentiment` command ends on an error the user can fix: one line, an exit code.

Shared by the command modules (`cli`, `cli_data`, `cli_serve`, `cli_stack`), so a user error
reads the same everywhere and never shows a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from sentiment_mlops.errors import user_error_message

EXIT_USAGE = 2  # bad input, settings or registry state: the user must change something
EXIT_FAILURE = 1  # the command could not do its job: no such model or alias, no stack


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr, then exit: what the user must fix, no traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix (bad data, params, registry state) into `fail`."""
    try:
        yield
    except Exception as error:
        message = user_error_message(error)
        if message is None:
            raise
        fail(message)
