"""The `sentiment` console script run as a user runs it: a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
