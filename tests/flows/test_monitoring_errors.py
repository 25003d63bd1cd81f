"""`sentiment monitor` on bad input and missing data, and the one-retraining-at-a-time lock."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sentiment_mlops.flows.promotion_lock import RETRAIN_LIMIT_NAME, try_lock
from sentiment_mlops.flows.retrain import retrain_if_due
from sentiment_mlops.monitoring.rules import Decision
from sentiment_mlops.settings import Settings, get_settings
from tests.support.cli import sentiment
from tests.support.paths import DEMO_DATA

DRIFT = Decision("drift", True, ("the raw texts drifted (domain classifier)",))


@pytest.fixture
def cli_env(migrated_store_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The CLI's environment: the test's MLflow store, a prediction log, the harness's Prefect."""
    from prefect.settings import PREFECT_API_URL

    return migrated_store_env | {
        "PREDICTION_LOG_URL": f"sqlite:///{tmp_path / 'predictions.db'}",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_bad_window_is_one_line_and_exit_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = sentiment("monitor", "--window", "yesterday", env=cli_env, cwd=tmp_path)
    assert result.returncode == 2
    assert "window must be a positive number of m, h or d" in _one_error_line(result)


def test_no_champion_is_exit_1(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = sentiment("monitor", env=cli_env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "has no 'champion' to monitor" in result.stderr


def test_training_data_gone_or_changed_then_an_empty_window(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentiment_mlops.flows.training import training_flow

    data = tmp_path / "reviews.csv"
    reviews = pd.read_csv(DEMO_DATA)
    reviews.to_csv(data, index=False)
    monkeypatch.setenv("DATA_PATH", str(data))
    get_settings.cache_clear()
    training_flow(champion=True)

    data.rename(tmp_path / "moved.csv")
    result = sentiment("monitor", env=cli_env, cwd=tmp_path)
    assert result.returncode == 2
    assert f"the champion's training data is not at {data}" in _one_error_line(result)

    reviews.iloc[:-1].to_csv(data, index=False)  # one review fewer: other data
    result = sentiment("monitor", env=cli_env, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{data} is not the data champion v1 was trained on" in _one_error_line(result)

    (tmp_path / "moved.csv").replace(data)
    result = sentiment("monitor", "--window", "2h", env=cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sentiment-classifier v1, window 2h: 0 served predictions" in result.stdout
    assert "nothing to compare: 0 served predictions in the window" in result.stdout


def test_log_off_is_a_user_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = sentiment("monitor", env=cli_env | {"PREDICTION_LOG_URL": "off"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "PREDICTION_LOG_URL is off" in _one_error_line(result)


def test_second_retraining_is_skipped_while_one_starts(settings: Settings) -> None:
    assert not settings.prefect_api_url  # embedded: a file lock
    with try_lock(settings, RETRAIN_LIMIT_NAME) as held:
        assert held
        skipped = retrain_if_due(settings, DRIFT, enabled=True)
    assert skipped.started is False
    assert skipped.detail == "another check is starting a retraining: skipped"


def test_with_a_prefect_server_the_lock_is_a_concurrency_limit(
    migrated_store_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    get_settings.cache_clear()
    settings = get_settings()
    with try_lock(settings, RETRAIN_LIMIT_NAME) as held:
        assert held
        skipped = retrain_if_due(settings, DRIFT, enabled=True)
    assert skipped.detail == "another check is starting a retraining: skipped"
    # Free again: the check now looks for the training deployment, which this server lacks.
    missing = retrain_if_due(settings, DRIFT, enabled=True)
    assert missing.started is False
    assert missing.detail == (
        "retraining is due but deployment 'sentiment-training/local' does not exist"
    )


def test_retraining_only_when_due_and_enabled(settings: Settings) -> None:
    calm = Decision("no_drift", False, ("no drift",))
    assert retrain_if_due(settings, calm, enabled=True).detail == "no retraining needed"
    assert retrain_if_due(settings, DRIFT, enabled=False).detail == (
        "retraining is due but not enabled (--retrain-on-drift)"
    )
