"""The registry's commands start without scikit-learn: they read and move aliases, no model.

`registry` imports `core.scores` (the pyfunc flavour's module and its output columns); scoring
needs scikit-learn, naming the flavour does not. Importing it (with SciPy) cost each of `models`,
`model-info`, `set-alias`, `rollback`, `promote` and `challenger clear` ~0.6 CPU s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow  # a CLI process importing MLflow: over a second of CPU
def test_models_command_imports_no_scikit_learn(
    migrated_store_env: dict[str, str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sentiment_mlops", "models"],
        env=os.environ | migrated_store_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # An empty registry: the normal answer, exit code 1 (the command ran to its end).
    assert done.returncode == 1, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "sentiment_mlops.registry" in imported, "the command did not reach the registry"
    assert not {name for name in imported if name.split(".")[0] == "sklearn"}
