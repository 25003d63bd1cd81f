"""The monitoring loop end to end on the stack: serve, log, check through the worker, retrain.

A champion trained on real IMDb reviews (the shared data beside the project) is served by the
stack's API. Reviews it never saw go through the API: the `sentiment-monitoring` deployment,
run by the worker, finds no drift. A stream of made-up words follows: the next run flags drift
and starts the training deployment (tag `triggered-by-monitoring`), which registers a version.
Feedback through the API moves live accuracy exactly as computed by hand.

The test leaves the model's aliases as it found them (the retraining's champion gate may or may
not promote its version), so the other stack tests see the champion they expect in any order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.stack.conftest import Story
from tests.stack.helpers import RunningStack, output
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import wait_until
from tests.support.streams import shifted_reviews

pytestmark = pytest.mark.stack

MODEL = "sentiment-classifier"
MONITORING = "sentiment-monitoring/local"
TRAINING = "sentiment-training/local"
IMDB = PROJECT_ROOT.parent / "shared" / "data" / "imdb_reviews.csv"
TRAIN_ROWS = 1000  # the champion's training data (its held-out part is the reference)
STREAM_ROWS = 200  # unseen reviews sent to the API, then as many shifted ones
TRIGGER_TAG = "triggered-by-monitoring"
_TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _imdb() -> pd.DataFrame:
    """The shared IMDb sample; a stack test runs in CI, where it sits beside the clone."""
    if not IMDB.is_file():
        pytest.fail(
            f"the shared IMDb reviews are missing at {IMDB}: the monitoring end-to-end test "
            "needs them (CI puts a copy of shared/ beside the clone)"
        )
    return pd.read_csv(IMDB)


@pytest.fixture
def aliases_restored(stack: RunningStack, story: Story) -> Iterator[dict[str, str]]:
    """Yields the model's aliases; afterwards puts them back and waits for the API to serve
    that champion again, whatever this test promoted (the story has already run)."""
    client = stack.mlflow()
    before = {a: str(v) for a, v in client.get_registered_model(MODEL).aliases.items()}
    try:
        yield before
    finally:
        now = {a: str(v) for a, v in client.get_registered_model(MODEL).aliases.items()}
        for alias in now.keys() - before.keys():
            client.delete_registered_model_alias(MODEL, alias)
        for alias, version in before.items():
            client.set_registered_model_alias(MODEL, alias, version)
        stack.wait_api_version(before["champion"], timeout=60)


def _serve_imdb_champion(stack: RunningStack, folder: Path, train: pd.DataFrame) -> str:
    """Register a version trained on `train` and make it the served champion; its version."""
    path = folder / "imdb_train.csv"
    train.to_csv(path, index=False)
    trained = stack.sentiment("train", "--data-path", str(path))
    assert trained.returncode == 0, output(trained)
    found = re.search(r"registered version\s+(\d+)", trained.stdout)
    assert found, output(trained)
    version = found.group(1)
    promoted = stack.sentiment("set-alias", "--version", version, "--alias", "champion")
    assert promoted.returncode == 0, output(promoted)
    stack.wait_api_version(version, timeout=60)
    return version


def _send(stack: RunningStack, texts: list[str], version: str) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    for start in range(0, len(texts), 50):
        body = {"texts": texts[start : start + 50]}
        response = httpx.post(f"{stack.api_url}/predict/batch", json=body, timeout=60)
        assert response.status_code == 200, response.text
        answers += response.json()["predictions"]
    assert {answer["model_version"] for answer in answers} == {version}
    return answers


def _run_deployment(stack: RunningStack, name: str, parameters: dict[str, Any]) -> str:
    """Create a run of deployment `name` for the worker, as `prefect deployment run` does."""
    deployment = stack.prefect(f"deployments/name/{name}")
    run = stack.prefect(
        f"deployments/{deployment['id']}/create_flow_run", {"parameters": parameters}
    )
    return str(run["id"])


def _wait_finished(stack: RunningStack, flow_run_id: str, timeout: float = 300) -> dict:
    found: dict[str, Any] = {}

    def finished() -> bool:
        found.update(stack.prefect(f"flow_runs/{flow_run_id}"))
        return found["state_type"] in _TERMINAL

    wait_until(finished, timeout, f"flow run {flow_run_id} finished", interval=1)
    return found


def _check(stack: RunningStack) -> tuple[dict[str, Any], Any]:
    """Run the monitoring deployment through the worker; its flow run and its MLflow run (found
    through the run's own Prefect artifact, which names it)."""
    flow_run_id = _run_deployment(stack, MONITORING, {"window": "1h"})
    flow_run = _wait_finished(stack, flow_run_id)
    assert flow_run["state_type"] == "COMPLETED", flow_run["state"]
    artifacts = stack.prefect(
        "artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}
    )
    (table,) = [a["data"] for a in artifacts if a["key"] == "sentiment-drift-check"]
    found = re.search(r"\| MLflow run \| `(\w+)`", table)
    assert found, table
    return flow_run, stack.mlflow().get_run(found.group(1))


def _triggered_runs(stack: RunningStack) -> list[dict[str, Any]]:
    runs = stack.prefect("flow_runs/filter", {"flow_runs": {"tags": {"all_": [TRIGGER_TAG]}}})
    return list(runs)


def _versions(stack: RunningStack) -> set[str]:
    return {str(v.version) for v in stack.mlflow().search_model_versions(f"name = '{MODEL}'")}


@pytest.mark.slow  # two checks (Evidently) and a training through the worker: about 2 minutes
def test_drift_on_the_stack_is_flagged_and_starts_the_training_deployment(
    stack: RunningStack, aliases_restored: dict[str, str], tmp_path: Path
) -> None:
    reviews = _imdb().sample(frac=1.0, random_state=12)
    champion = _serve_imdb_champion(stack, tmp_path, reviews.iloc[:TRAIN_ROWS])
    unseen = list(reviews.iloc[TRAIN_ROWS : TRAIN_ROWS + STREAM_ROWS]["text"])
    already_triggered = {run["id"] for run in _triggered_runs(stack)}

    _send(stack, unseen, champion)
    flow_run, calm = _check(stack)
    assert flow_run["parameters"] == {"window": "1h", "retrain_on_drift": True}
    assert calm.data.tags["model.name"] == MODEL
    assert calm.data.tags["model.version"] == champion
    assert calm.data.metrics["window_rows"] >= STREAM_ROWS
    assert calm.data.tags["verdict"] == "no_drift", calm.data.tags["decision.reason"]
    assert calm.data.tags["retraining"] == "no retraining needed"
    assert {run["id"] for run in _triggered_runs(stack)} == already_triggered

    versions_before = _versions(stack)
    _send(stack, shifted_reviews(STREAM_ROWS), champion)
    flow_run, drifted = _check(stack)
    assert drifted.data.tags["model.version"] == champion
    assert drifted.data.tags["verdict"] == "drift", drifted.data.tags["decision.reason"]
    assert drifted.data.tags["retrain"] == "true"
    assert drifted.data.metrics["drift_score"] > calm.data.metrics["drift_score"]
    retraining = drifted.data.tags["retraining"]
    assert retraining.startswith(f"started {TRAINING} run "), retraining

    # The training run the check started, visible in Prefect by its tag.
    (started,) = [run for run in _triggered_runs(stack) if run["id"] not in already_triggered]
    assert f"({started['id']})" in retraining
    deployment = stack.prefect(f"deployments/name/{TRAINING}")
    assert started["deployment_id"] == deployment["id"]
    assert started["parameters"] == {"champion": True}
    finished = _wait_finished(stack, started["id"])
    assert finished["state_type"] == "COMPLETED", finished["state"]
    (new_version,) = _versions(stack) - versions_before
    # Trained by the deployment on the stack's data (DATA_PATH), not on the IMDb sample.
    registered = stack.mlflow().get_model_version(MODEL, new_version)
    run = stack.mlflow().get_run(registered.run_id)
    assert run.data.tags["data.path"] == stack.env["DATA_PATH"]


def test_feedback_through_the_api_moves_live_accuracy_as_computed_by_hand(
    stack: RunningStack, story: Story
) -> None:
    """Labels sent for six fresh predictions: the first four agree with the model, the last two
    do not; the served version's accuracy goes from what the store held to the sum by hand."""
    version = str(stack.api_health().json()["model_version"])
    before = _accuracy_of(stack, version)
    texts = [f"review {n}: a film with a story, some actors and an ending." for n in range(6)]
    answers = _send(stack, texts, version)
    for n, answer in enumerate(answers):
        right = n < 4
        other = "negative" if answer["sentiment"] == "positive" else "positive"
        body = {"prediction_id": answer["prediction_id"], "label": answer["sentiment"]}
        if not right:
            body["label"] = other
        response = httpx.post(f"{stack.api_url}/feedback", json=body, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["correct"] is right

    correct = round(before[0] * before[1]) + 4
    labelled = before[1] + 6
    after = _accuracy_of(stack, version)
    assert after == (correct / labelled, labelled)
    labels = f'{{name="{MODEL}",version="{version}"}}'
    metrics = httpx.get(f"{stack.api_url}/metrics", timeout=30).text
    assert f"sentiment_live_accuracy{labels} {correct / labelled}" in metrics
    assert f"sentiment_live_accuracy_labelled{labels} {float(labelled)}" in metrics


def _accuracy_of(stack: RunningStack, version: str) -> tuple[float, int]:
    """The version's live accuracy and labelled count in /model-info ((0.0, 0): no label yet)."""
    info = httpx.get(f"{stack.api_url}/model-info", timeout=30).json()
    for entry in info["live_accuracy"] or []:
        if entry["model_version"] == version:
            return entry["accuracy"], entry["labelled"]
    return 0.0, 0
