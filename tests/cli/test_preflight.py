"""`sentiment train` checks that MLflow answers before it loads data or trains.

An unreachable tracking server used to be noticed only when the run was logged, after the whole
training (18 s on the IMDb sample); the registry only when the version was registered.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import DEMO_DATA
from tests.support.processes import free_port

pytestmark = pytest.mark.slow

# What a training logs once it has started: its steps, its flow run, its MLflow run.
TRAINING_SIGNS = ("load-data", "loaded ", "train-model", "Beginning flow run", "logged MLflow")


def _train(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sentiment_mlops", "train", "--data-path", str(DEMO_DATA)]
    return subprocess.run(
        [*command, *args],
        env=os.environ | env | {"COLUMNS": "200", "NO_COLOR": "1"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("mode", [["--no-prefect"], []], ids=["no-prefect", "prefect"])
def test_unreachable_tracking_server_fails_before_training(
    store_env: dict[str, str], migrated_prefect_home: Path, tmp_path: Path, mode: list[str]
) -> None:
    # With Prefect, the local server starts first and is stopped at the error: in a migrated
    # home (as after a first command), not one it spends its life migrating.
    uri = f"http://127.0.0.1:{free_port()}"
    env = store_env | {"MLFLOW_TRACKING_URI": uri, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}

    result = _train(*mode, env=env, cwd=tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: cannot reach the MLflow tracking server at {uri} (is it running?)"
    ]
    assert "Traceback" not in result.stdout
    started = [sign for sign in TRAINING_SIGNS if sign in result.stdout]
    assert not started, f"training started ({started}):\n{result.stdout}"


def test_unreachable_registry_fails_before_training(
    migrated_store_env: dict[str, str], tmp_path: Path
) -> None:
    registry = f"http://127.0.0.1:{free_port()}"
    unreachable = {"MLFLOW_REGISTRY_URI": registry, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    env = migrated_store_env | unreachable

    result = _train("--no-prefect", env=env, cwd=tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert registry in lines[0], "the error names the store that could not be reached"
    assert "Traceback" not in result.stdout
    started = [sign for sign in TRAINING_SIGNS if sign in result.stdout]
    assert not started, f"training started ({started}):\n{result.stdout}"
