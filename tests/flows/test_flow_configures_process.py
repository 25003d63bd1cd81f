"""The flow is an entry point: a worker runs it in a new process, configured from its settings."""

from __future__ import annotations

import mlflow

from tests.flows.conftest import UnregisteredRun


def test_the_flow_configures_its_process_from_settings_mlflow_cannot_read(
    unregistered_run: UnregisteredRun,
) -> None:
    # The store and MLflow's HTTP timeout were in a .env only, which MLflow does not read.
    tracking_uri = unregistered_run.tracking_uri
    assert unregistered_run.environment["MLFLOW_TRACKING_URI"] == tracking_uri
    assert unregistered_run.environment["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"
    client = mlflow.MlflowClient(tracking_uri)
    run = client.get_run(unregistered_run.result.run_id)  # logged to that store
    assert run.info.status == "FINISHED"
    assert "model" in {
        model.name for model in client.search_logged_models([run.info.experiment_id])
    }
