"""How every `sentiment` command ends on an error the user can fix: one line, an exit code.

Shared by the command modules (`cli`, `cli_data`, `cli_serve`, `cli_stack`), so a user error
reads the same everywhere and never shows a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from sentiment_mlops.settings import get_settings

EXIT_USAGE = 2  # bad input, settings or registry state: the user must change something
EXIT_FAILURE = 1  # the command could not do its job: no such model or alias, no stack


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr, then exit: what the user must fix, no traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix (bad data, params, registry state) into `fail`."""
    from sentiment_mlops.core.data import DataError
    from sentiment_mlops.core.params import ParamsError

    try:
        yield
    except (DataError, ParamsError, FileNotFoundError) as error:
        fail(str(error))
    except Exception as error:
        if not _is_registry_error(error):
            raise
        from sentiment_mlops.redaction import redactor_for

        redact = redactor_for(get_settings())  # the URI may carry a password
        message = redact(_first_line(error))
        if "Max retries exceeded" in message or "Connection refused" in message:
            uri = redact(get_settings().mlflow_tracking_uri)
            fail(f"cannot reach the MLflow tracking server at {uri} (is it running?)")
        fail(f"registry: {message}")


def _is_registry_error(error: Exception) -> bool:
    module = type(error).__module__
    return module.startswith(("mlflow", "sentiment_mlops.registry", "requests", "urllib3"))


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
