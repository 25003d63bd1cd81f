"""Registry functions log through the client they are given, and refuse to split a run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from sentiment_mlops import registry
from sentiment_mlops.process import configure_process
from sentiment_mlops.settings import Settings
from tests.registry.conftest import LoggedModel
from tests.support.paths import DEMO_DATA


def test_logging_refuses_a_client_of_another_store_than_the_process(
    logged: LoggedModel, tmp_path: Path, migrated_store_template: Path
) -> None:
    shutil.copyfile(migrated_store_template, tmp_path / "other.db")
    other = Settings(
        _env_file=None,  # type: ignore[call-arg]
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'other.db'}",
        artifact_location=str(tmp_path / "artifacts"),
    )
    client = registry.make_client(other)
    experiment_id = registry.ensure_experiment(client, other, "registry-test")
    texts = logged.split.train_texts.tolist()[:4]
    record = registry.RunRecord(
        params={"seed": 1},
        metrics={"f1": 0.5},
        training_frame=pd.DataFrame({"text": texts, "label": [0, 1, 0, 1]}),
        data_source=str(DEMO_DATA),
        input_example=texts[:2],
        figures={},
        tags={},
    )
    configure_process(logged.settings)  # the process logs to the module's store

    with pytest.raises(RuntimeError, match="configure_process"):
        registry.log_training_run(client, experiment_id, logged.model, record)
    # Nothing logged in either store: not a run in one and its model in the other.
    assert client.search_runs([experiment_id]) == []
    process_client = logged.tracker.client
    runs = process_client.search_runs([logged.tracker.experiment_id], "params.seed = '1'")
    assert runs == []


def test_a_version_loads_from_the_clients_stores_not_the_processs(
    logged: LoggedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = logged.tracker.client
    ref = registry.get_version(client, "registry-test-model", logged.version)
    # The process points at a server that is not there (one quick try).
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

    model = registry.load_model(client, ref)

    texts = logged.split.test_texts[:5]
    assert (model.predict(texts) == logged.model.predict(texts)).all()
