"""How every `sentiment` command ends on an error the user can act on: one line, an exit code.

The errors are mapped by class (`sentiment_mlops.errors`): the exit code is the error's own.
`ErrorMappingGroup` applies the mapping around every command of the app, settings errors
included, so a user error reads the same everywhere and never shows a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.core import TyperGroup

from sentiment_mlops.errors import USER_ERRORS, NotFoundError, UserError, exit_code

if TYPE_CHECKING:
    # The context of Typer's groups: the class of the click that Typer vendors. Typer exports
    # only a subclass (`typer.Context`), which an override may not narrow the argument to.
    from typer._click import Context

EXIT_USAGE = UserError.exit_code  # bad input, settings or registry state: change something
EXIT_FAILURE = NotFoundError.exit_code  # no such model, version or alias; no stack
_DISTRIBUTION = "sentiment-mlops"  # whose extras `missing_extras` names


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr, then exit: what the user must fix, no traceback."""
    _say(message)
    raise typer.Exit(code)


def _say(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn our errors (`SentimentError` and its subclasses) into `fail` with their exit code."""
    try:
        yield
    except USER_ERRORS as error:
        fail(str(error), exit_code(error))


class ErrorMappingGroup(TyperGroup):
    """A command group that ends any of its commands' user errors with `fail`."""

    def invoke(self, ctx: Context) -> Any:
        with user_errors():
            return super().invoke(ctx)


@contextmanager
def missing_extras() -> Iterator[None]:
    """Name the extra to install when a command needs a library its role did not install.

    Each role's libraries come with an extra (`sentiment-mlops[training]`, ...). Which extra
    provides which library is read from the installed package's own metadata, so the message
    follows pyproject.toml. `PackageNotFoundError` is a `ModuleNotFoundError` too.
    """
    try:
        yield
    except ModuleNotFoundError as error:
        extras = _extras_providing(error.name or "")
        if not extras:
            raise
        choices = " or ".join(f"'{_DISTRIBUTION}[{extra}]'" for extra in extras)
        _say(f"this command needs {error.name}, which is not installed: install {choices}")
        raise SystemExit(EXIT_USAGE) from None  # around the app: typer.Exit is not caught there


def _extras_providing(module: str) -> list[str]:
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    # `ruamel.yaml` is the distribution ruamel-yaml, `prometheus_client` prometheus-client.
    wanted = {canonicalize_name(module), canonicalize_name(module.partition(".")[0])}
    package = metadata.metadata(_DISTRIBUTION)
    requirements = [Requirement(line) for line in package.get_all("Requires-Dist") or []]

    def brought_by(extra: str) -> list[Requirement]:
        return [
            requirement
            for requirement in requirements
            if requirement.marker is not None
            and requirement.marker.evaluate({"extra": extra})
            and not requirement.marker.evaluate({"extra": ""})  # not a base requirement
        ]

    extras = {extra: brought_by(extra) for extra in package.get_all("Provides-Extra") or []}
    providing = [
        extra
        for extra, brought in extras.items()
        if any(canonicalize_name(requirement.name) in wanted for requirement in brought)
    ]
    return sorted(providing, key=lambda extra: len(extras[extra]))  # the smallest role first
