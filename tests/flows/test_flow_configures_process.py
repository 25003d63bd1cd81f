"""The flow is an entry point: a worker runs it in a new process, configured from its settings."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest

from sentiment_mlops.flows.training import training_flow
from sentiment_mlops.settings import Settings, get_settings


def test_the_flow_configures_its_process_from_settings_mlflow_cannot_read(
    migrated_store_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store and MLflow's HTTP timeout in a .env only, which MLflow does not read.
    tracking_uri = migrated_store_env["MLFLOW_TRACKING_URI"]
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"MLFLOW_TRACKING_URI={tracking_uri}\nMLFLOW_HTTP_REQUEST_TIMEOUT=7\n")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    monkeypatch.setitem(Settings.model_config, "env_file", str(dotenv))
    get_settings.cache_clear()

    result = training_flow(register_model=False)

    assert os.environ["MLFLOW_TRACKING_URI"] == tracking_uri
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"
    run = mlflow.MlflowClient(tracking_uri).get_run(result.run_id)  # logged to that store
    assert run.info.status == "FINISHED"
    assert "model" in {
        model.name
        for model in mlflow.MlflowClient(tracking_uri).search_logged_models(
            [run.info.experiment_id]
        )
    }
