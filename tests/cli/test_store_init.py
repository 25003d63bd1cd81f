"""Commands started together on a SQLite store that does not exist yet all work.

MLflow migrates a new SQLite database on first use; without the first-use lock two of three
concurrent commands crashed with Alembic tracebacks, and a training race could leave a worse
champion.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from sentiment_mlops.store_init import sqlite_path
from tests.support.paths import PARAMS_FILE

COMMANDS_AT_ONCE = 3


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sqlite:///mlflow.db", Path("mlflow.db")),
        ("sqlite:////srv/mlflow/store.db", Path("/srv/mlflow/store.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("http://127.0.0.1:5000", None),
        ("postgresql://mlflow@db/mlflow", None),
    ],
)
def test_sqlite_path(uri: str, expected: Path | None) -> None:
    assert sqlite_path(uri) == expected


def _run_at_once(commands: list[list[str]], env: dict[str, str], cwd: Path) -> list[tuple]:
    """Start every command before waiting for any; (exit code, stdout, stderr) of each."""
    environment = os.environ | env | {"COLUMNS": "200", "NO_COLOR": "1"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "sentiment_mlops", *command],
            env=environment,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        results.append((process.returncode, stdout, stderr))
    return results


@pytest.mark.slow
def test_concurrent_first_use_of_a_new_store(store_env: dict[str, str], tmp_path: Path) -> None:
    database = Path(store_env["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))
    assert not database.exists()

    results = _run_at_once([["models"]] * COMMANDS_AT_ONCE, store_env, tmp_path)

    for code, stdout, stderr in results:
        assert "Traceback" not in stdout + stderr, stderr
        # The normal answer of an empty registry: "not found", exit code 1.
        assert code == 1, stderr
        assert stderr.strip().splitlines()[-1] == (
            "error: model 'sentiment-classifier' has no registered versions"
        )


@pytest.mark.slow
def test_concurrent_champion_trainings_on_a_new_store(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    params = yaml.safe_load(PARAMS_FILE.read_text())
    commands = []
    for max_features in (30, 300, params["vectorizer"]["max_features"]):
        params["vectorizer"]["max_features"] = max_features
        path = tmp_path / f"params-{max_features}.yaml"
        path.write_text(yaml.safe_dump(params))
        commands.append(["train", "--no-prefect", "--champion", "--params", str(path)])

    results = _run_at_once(commands, store_env, tmp_path)

    for code, stdout, stderr in results:
        assert "Traceback" not in stdout + stderr, stderr
        assert code == 0, stderr
    # Both URIs explicitly: in-process CLI tests may have left MLflow a global registry URI.
    uri = store_env["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions("name = 'sentiment-classifier'")
    assert len(versions) == COMMANDS_AT_ONCE
    f1 = {v.version: client.get_run(v.run_id).data.metrics["f1"] for v in versions}
    assert len(set(f1.values())) > 1, f"the three trainings should differ: {f1}"
    champion = client.get_model_version_by_alias("sentiment-classifier", "champion")
    assert f1[champion.version] == max(f1.values()), f"champion v{champion.version} of {f1}"
