"""The CLI is an entry point: every command runs with the process configured from the settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# `sentiment` as `python -m sentiment_mlops` runs it, printing MLflow's and Prefect's variables
# as the process has them when it ends.
_PROBE = """
import atexit, json, os, runpy
def show():
    tools = {k: v for k, v in os.environ.items() if k.startswith(("MLFLOW_", "PREFECT_"))}
    print(json.dumps(tools))
atexit.register(show)
runpy.run_module("sentiment_mlops", run_name="__main__")
"""


def test_a_command_runs_with_mlflow_and_prefect_configured_from_the_settings(
    tmp_path: Path,
) -> None:
    # Settings from a .env only, which MLflow and Prefect do not read themselves.
    (tmp_path / ".env").write_text(
        "MLFLOW_TRACKING_URI=http://127.0.0.1:9\n"
        "MLFLOW_HTTP_REQUEST_TIMEOUT=7\n"
        "PREFECT_API_URL=http://127.0.0.1:9/api\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_"))}

    result = subprocess.run(
        [sys.executable, "-c", _PROBE, "stack", "status"],  # a command that needs no MLflow
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stderr  # no stack here: the command itself ran
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:9"
    assert seen["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"
    assert seen["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"  # the settings' default
    assert seen["PREFECT_API_URL"] == "http://127.0.0.1:9/api"
