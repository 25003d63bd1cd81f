"""The `sentiment` console script run as a user runs it (a real process), or in this process
through Typer's runner (the same exit code and stderr, without a new interpreter's imports)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result


def sentiment(
    *args: str, env: dict[str, str], cwd: Path, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run `sentiment *args` in `cwd` with `env` added (and the `unset` variables removed)."""
    environment = os.environ | env | {"COLUMNS": "200", "NO_COLOR": "1"}
    for name in unset:
        environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "sentiment_mlops", *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def sentiment_here(*args: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Result:
    """Run `sentiment *args` in this process with `env` set and the settings read afresh.

    An exception the command let escape fails the test here, as its traceback would in a process.
    """
    from typer.testing import CliRunner

    from sentiment_mlops.cli import app
    from sentiment_mlops.settings import get_settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args), prog_name="sentiment")
    finally:
        get_settings.cache_clear()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result
