"""The drift check on the stack: deployed hourly beside the training, run by the process worker.

It monitors a model of its own (`monitored`), which the API does not serve: its window is empty,
so the run ends `nothing_to_compare` without touching the other tests' champion or training
deployment runs, while it still goes through the worker, the stack's MLflow server and the
prediction log in PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, select

from sentiment_mlops.monitoring import tables
from tests.stack.helpers import RunningStack, output
from tests.support.postgres import database_url

pytestmark = pytest.mark.stack

DEPLOYMENT = "sentiment-monitoring/local"


def test_monitoring_is_deployed_hourly_on_the_worker_pool(stack: RunningStack) -> None:
    deployment = stack.prefect(f"deployments/name/{DEPLOYMENT}")
    assert deployment["work_pool_name"] == "sentiment-process"
    assert deployment["parameters"] == {"retrain_on_drift": True}
    (schedule,) = deployment["schedules"]
    assert schedule["schedule"]["interval"] == 3600
    assert schedule["active"] is True


def test_a_monitoring_run_through_the_worker_logs_its_check(stack: RunningStack) -> None:
    trained = stack.sentiment("train", "--champion", "--model-name", "monitored")
    assert trained.returncode == 0, output(trained)

    command = [sys.executable, "-m", "prefect", "deployment", "run", DEPLOYMENT]
    command += ["--param", "model_name=monitored", "--param", "window=1h"]
    command += ["--watch", "--watch-timeout", "300"]
    result = subprocess.run(
        command, env=stack.client_env(), capture_output=True, text=True, timeout=360, check=False
    )
    assert result.returncode == 0, output(result)

    mlflow = stack.mlflow()
    experiment = mlflow.get_experiment_by_name("sentiment-monitoring")
    (run,) = mlflow.search_runs(
        [experiment.experiment_id], filter_string="tags.`model.name` = 'monitored'"
    )
    assert run.data.tags["model.version"] == "1"
    assert run.data.tags["verdict"] == "nothing_to_compare"
    assert run.data.tags["retraining"] == "no retraining needed"
    assert run.data.metrics["window_rows"] == 0
    # The worker reads and writes the API's prediction log: the stack's PostgreSQL database.
    engine = create_engine(database_url(stack.databases[2]))
    try:
        with engine.connect() as connection:
            checks = connection.execute(
                select(tables.drift_checks).where(tables.drift_checks.c.model_name == "monitored")
            ).all()
    finally:
        engine.dispose()
    assert [(c.verdict, c.mlflow_run_id) for c in checks] == [
        ("nothing_to_compare", run.info.run_id)
    ]
