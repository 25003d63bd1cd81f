"""One setting per decision, honoured by every command: the champion metric (checked before any
work) and the served alias (MODEL_ALIAS, moved by training, set-alias and rollback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentiment_mlops import registry
from sentiment_mlops.core.metrics import METRIC_NAMES
from sentiment_mlops.settings import Settings
from tests.support.cli import sentiment


def test_unknown_champion_metric_fails_before_training(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    env = store_env | {"CHAMPION_METRIC": "neg_log_loss"}
    result = sentiment("train", "--champion", "--no-prefect", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: CHAMPION_METRIC: unknown metric 'neg_log_loss': "
        f"choose one of {', '.join(METRIC_NAMES)}"
    ]
    # Refused before anything started: no store, no run.
    assert not (tmp_path / "mlflow.db").exists()
    assert not Path(store_env["ARTIFACT_LOCATION"]).exists()


@pytest.mark.slow
def test_model_alias_is_the_alias_every_command_moves(
    migrated_store_env: dict[str, str], tmp_path: Path
) -> None:
    env = migrated_store_env | {"MODEL_ALIAS": "prod"}
    trained = sentiment("train", "--champion", "--no-prefect", env=env, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "promoted to champion: no champion yet" in trained.stdout
    again = sentiment("train", "--champion", "--no-prefect", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr

    client = registry.make_client(
        Settings(mlflow_tracking_uri=migrated_store_env["MLFLOW_TRACKING_URI"])
    )
    name = "sentiment-classifier"
    assert registry.get_alias(client, name, "prod").version == "1"
    assert registry.get_alias(client, name, "champion") is None

    info = sentiment("model-info", env=env, cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert f"{name}@prod -> version 1" in info.stdout

    moved = sentiment("set-alias", "--version", "2", env=env, cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert registry.get_alias(client, name, "prod").version == "2"
    assert registry.get_alias(client, name, "previous").version == "1"

    rolled = sentiment("rollback", env=env, cwd=tmp_path)
    assert rolled.returncode == 0, rolled.stderr
    assert f"{name}@prod -> version 1 (rolled back)" in rolled.stdout
    assert registry.get_alias(client, name, "prod").version == "1"
    assert registry.get_alias(client, name, "champion") is None
