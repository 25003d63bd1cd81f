"""The tuning flow on a tiny budget (3 trials, 3 folds, the demo reviews), against a temporary
SQLite MLflow: one parent run, one nested run per trial, and a params file it can write."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import yaml

from sentiment_mlops.core.params import load_params
from sentiment_mlops.settings import Settings
from tests.support.paths import DEMO_DATA, PARAMS_FILE
from tests.support.run_log import run_log

TRIAL_METRICS = {"cv_accuracy_mean", "cv_accuracy_std", "cv_roc_auc_mean", "cv_roc_auc_std"}


def test_tuning_logs_a_parent_and_a_child_run_per_trial_and_writes_params(
    settings: Settings, tmp_path: Path
) -> None:
    from sentiment_mlops.flows.tuning import FLOW_NAME, tuning_flow

    params_path = tmp_path / "params.yaml"
    shutil.copyfile(PARAMS_FILE, params_path)
    before = params_path.read_text()

    result = tuning_flow(
        data_path=str(DEMO_DATA), params_path=str(params_path), trials=3, folds=3, write=True
    )

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    parent = client.get_run(result["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["tuning.trials"] == "3"
    assert parent.data.params["tuning.folds"] == "3"
    assert parent.data.params["tuning.seed"] == "42"  # params.yaml's data.random_state
    assert parent.data.metrics["cv_accuracy_mean"] == result["metrics"]["cv_accuracy_mean"]
    assert parent.data.params["best.features.set"] == result["params"]["features.set"]

    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert len(children) == 3
    assert {c.data.tags["trial_state"] for c in children} <= {"COMPLETE", "PRUNED"}
    for child in children:
        assert {"features.set", "features.nb_alpha", "model.C", "trial"} <= set(child.data.params)
        assert set(child.data.metrics) >= TRIAL_METRICS
        assert 0.5 <= child.data.metrics["cv_accuracy_mean"] <= 1.0
    best = client.get_run(result["run_id"])
    assert best.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert best.data.metrics["cv_accuracy_mean"] == max(
        c.data.metrics["cv_accuracy_mean"]
        for c in children
        if c.data.tags["trial_state"] == "COMPLETE"
    )

    written = load_params(params_path)
    assert written.flat() == result["params"]
    assert written.data == load_params(PARAMS_FILE).data  # the split is never tuned
    text = params_path.read_text()
    # Comments and the other sections (prepare:) stay as they were.
    assert [line for line in text.splitlines() if line.lstrip().startswith("#")] == [
        line for line in before.splitlines() if line.lstrip().startswith("#")
    ]
    assert yaml.safe_load(text)["prepare"] == yaml.safe_load(before)["prepare"]
    assert tuning_flow.name == FLOW_NAME


def test_a_user_error_fails_the_run_with_its_line(settings: Settings, tmp_path: Path) -> None:
    from sentiment_mlops.flows.tuning import tuning_flow

    missing = tmp_path / "missing.yaml"
    state = tuning_flow(data_path=str(DEMO_DATA), params_path=str(missing), return_state=True)
    assert state.is_failed()
    assert state.message == f"{missing}: params file not found"
    log = run_log(state.state_details.flow_run_id)
    assert not any("Traceback" in line for line in log), log
