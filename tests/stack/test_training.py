"""The seed's checklist against the real servers: CLI training with PREFECT_API_URL set, the
registry on the MLflow server with artifacts in S3, champion promotion, model-info, and the API
serving the champion and hot-reloading a new one. The `story` fixture (conftest) acts once."""

from __future__ import annotations

import re

import pytest

from tests.stack.conftest import PG_URL, Story
from tests.stack.helpers import TASK_NAMES, RunningStack, output, status_rows
from tests.support.processes import wait_until

pytestmark = pytest.mark.stack

MODEL = "sentiment-classifier"


def test_cli_flow_run_is_completed_in_the_prefect_server(stack: RunningStack, story: Story) -> None:
    flow_run = stack.prefect(f"flow_runs/{story.first_flow_run}")
    assert flow_run["state_type"] == "COMPLETED", flow_run["state"]

    task_runs = stack.wait_task_runs_completed(story.first_flow_run)

    states = {run["name"]: run["state_type"] for run in task_runs}
    assert {name.rsplit("-", 1)[0] for name in states} >= TASK_NAMES, states
    assert set(states.values()) == {"COMPLETED"}, states


def test_version_is_in_the_registry_with_its_artifacts_in_s3(
    stack: RunningStack, story: Story
) -> None:
    version = stack.mlflow().get_model_version(MODEL, "1")
    model_id = version.model_id or version.source.removeprefix("models:/")

    keys = stack.bucket_keys("mlflow-artifacts")

    model_files = {key.rsplit("/", 1)[1] for key in keys if f"/models/{model_id}/artifacts/" in key}
    assert {"MLmodel", "model.pkl", "requirements.txt", "input_example.json"} <= model_files
    plots = {key.rsplit("/", 1)[1] for key in keys if f"/{version.run_id}/artifacts/plots/" in key}
    assert {"confusion_matrix.png", "roc_curve.png"} <= plots


def test_champion_alias_goes_to_the_better_model_and_previous_keeps_the_old(story: Story) -> None:
    assert "promoted to champion" in story.first.stdout, output(story.first)
    assert "promoted to champion" in story.second.stdout, output(story.second)
    # Both scores, measured on the same held-out rows, are printed.
    assert re.search(r"challenger v2 f1=0\.\d+; champion v1 f1=0\.\d+", story.second.stdout)
    assert story.aliases == {"champion": "2", "previous": "1"}


def test_model_info_shows_the_champion(stack: RunningStack, story: Story) -> None:
    assert story.model_info.returncode == 0, output(story.model_info)
    champion = stack.mlflow().get_model_version(MODEL, "2")
    assert f"{MODEL}@champion -> version 2" in story.model_info.stdout
    assert champion.run_id in story.model_info.stdout


def test_api_serves_the_champion_and_hot_reloads_a_new_one(story: Story) -> None:
    assert story.api_after_first == {
        "status": "healthy",
        "model_loaded": True,
        "model_version": "1",
    }
    assert story.prediction_after_first["model_version"] == "1"
    assert story.prediction_after_second["model_version"] == "2"
    assert story.prediction_after_second["sentiment"] == "positive"
    # A webhook delivery or the 1 s poll, with no restart: the story waited for version 2 with
    # a deadline generous enough for a loaded machine (a time limit here would fail there).
    # How fast the switch is: bench/webhook.py.
    print(f"version 2 served {story.reload_seconds:.1f} s after the training ended")


def test_status_shows_the_model_the_api_serves(stack: RunningStack, story: Story) -> None:
    result = stack.sentiment("stack", "status", env=stack.env)
    served = stack.api_health().json()["model_version"]

    assert result.returncode == 0, output(result)
    assert served is not None
    assert f"│ healthy, model v{served} │" in status_rows(result.stdout)["api"], result.stdout


def test_the_apis_predictions_are_logged_in_the_stacks_postgres(
    stack: RunningStack, story: Story
) -> None:
    import psycopg
    from psycopg.conninfo import make_conninfo

    prediction_id = story.prediction_after_second["prediction_id"]
    assert prediction_id, story.prediction_after_second
    database = make_conninfo(PG_URL, dbname=stack.databases[2])

    def logged() -> tuple[str, str] | None:  # the writer flushes in the background
        with psycopg.connect(database) as connection:
            return connection.execute(
                "SELECT model_version, label FROM predictions WHERE id = %s", (prediction_id,)
            ).fetchone()

    row = wait_until(logged, timeout=30, what="the prediction in the stack's predictions database")
    assert row == ("2", story.prediction_after_second["sentiment"])
