"""The drift check end to end, embedded: train, serve, send reviews, check, retrain on drift.

The champion is trained on 250 demo reviews; the other 82, which it never saw, are the
in-distribution stream. The shifted stream is made here: reviews of made-up words.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from sentiment_mlops import registry
from sentiment_mlops.serving.app import create_app
from sentiment_mlops.settings import Settings, get_settings
from tests.support.paths import DEMO_DATA
from tests.support.streams import shifted_reviews

TRAIN_ROWS = 250
TASKS = {"load-reference", "load-window", "compute-report", "decide", "log-report"}


@pytest.fixture
def served(
    migrated_store_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, TestClient, list[str]]]:
    """A champion trained on part of the demo reviews, served in-process with a prediction
    log; yields the settings, the client and the reviews the champion never saw."""
    from sentiment_mlops.flows.training import training_flow

    reviews = pd.read_csv(DEMO_DATA)
    train = tmp_path / "train.csv"
    reviews.iloc[:TRAIN_ROWS].to_csv(train, index=False)
    monkeypatch.setenv("DATA_PATH", str(train))
    monkeypatch.setenv("PREDICTION_LOG_URL", f"sqlite:///{tmp_path / 'predictions.db'}")
    monkeypatch.setenv("PREDICTION_LOG_FLUSH_INTERVAL", "0.05")
    get_settings.cache_clear()
    settings = get_settings()
    training_flow(champion=True)
    with TestClient(create_app(settings)) as client:
        for _ in range(600):
            if client.get("/health").status_code == 200:
                break
            asyncio.run(asyncio.sleep(0.05))
        yield settings, client, list(reviews.iloc[TRAIN_ROWS:]["text"])


def _send(client: TestClient, texts: list[str]) -> None:
    for start in range(0, len(texts), 50):
        response = client.post("/predict/batch", json={"texts": texts[start : start + 50]})
        assert response.status_code == 200, response.text
    client.app.state.prediction_log.flush()  # type: ignore[attr-defined]


async def _task_names(flow_run_id) -> set[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {run.name.rsplit("-", 1)[0] for run in runs}


async def _artifacts(flow_run_id) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return [artifact.data for artifact in found if artifact.key == "sentiment-drift-check"]


def _metric(client: TestClient, name: str) -> float | None:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"{name}{{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_in_distribution_no_drift_then_shifted_drift_retrains(
    served: tuple[Settings, TestClient, list[str]],
) -> None:
    from sentiment_mlops.flows.monitoring import FLOW_NAME, monitoring_flow

    settings, client, unseen = served
    mlflow = MlflowClient(settings.mlflow_tracking_uri)

    empty = monitoring_flow(window="1h")
    assert empty["verdict"] == "nothing_to_compare"
    assert empty["retrain"] is False

    _send(client, unseen)
    state = monitoring_flow(window="1h", retrain_on_drift=True, return_state=True)
    calm = state.result()
    assert calm["verdict"] == "no_drift", calm["reason"]
    assert calm["retrain"] is False
    assert calm["report"]["text"]["drifted"] is False
    assert asyncio.run(_task_names(state.state_details.flow_run_id)) >= TASKS
    (table,) = asyncio.run(_artifacts(state.state_details.flow_run_id))
    assert "| verdict | **no_drift** |" in table
    assert f"| MLflow run | `{calm['mlflow_run_id']}` (drift_report.html) |" in table
    run = mlflow.get_run(calm["mlflow_run_id"])
    assert run.data.tags["model.version"] == "1"
    assert run.data.tags["verdict"] == "no_drift"
    artifacts = {a.path for a in mlflow.list_artifacts(calm["mlflow_run_id"])}
    assert {"drift_report.html", "drift_summary.json"} <= artifacts
    assert _metric(client, "sentiment_drift_detected") == 0.0

    _send(client, shifted_reviews(len(unseen)))
    shifted = monitoring_flow(window="1h", retrain_on_drift=True)
    assert shifted["verdict"] == "drift", shifted["reason"]
    assert shifted["report"]["text"]["drifted"] is True
    assert "oov_share" in shifted["report"]["drifted_descriptors"]
    assert shifted["retrain"] is True
    assert shifted["retraining"].startswith("trained version 2"), shifted["retraining"]
    versions = registry.list_versions(registry.make_client(settings), settings.model_name)
    assert {v.version for v in versions} == {"1", "2"}
    run = mlflow.get_run(shifted["mlflow_run_id"])
    assert run.data.tags["verdict"] == "drift"
    assert run.data.tags["retraining"] == shifted["retraining"]
    assert run.data.metrics["drift_score"] > calm["report"]["text"]["score"]
    assert _metric(client, "sentiment_drift_detected") == 1.0
    score = run.data.metrics["drift_score"]
    assert _metric(client, "sentiment_drift_score") == pytest.approx(score)
    assert monitoring_flow.name == FLOW_NAME
