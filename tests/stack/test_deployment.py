"""The training deployment, served by the stack's process worker: started like a user starts it
(`prefect deployment run`), it completes and registers a model in the stack's registry."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest

from tests.stack.helpers import FLOW_NAME, TASK_NAMES, RunningStack, output

pytestmark = pytest.mark.stack

DEPLOYMENT = f"{FLOW_NAME}/local"


def test_deployment_is_on_the_process_pool_with_training_parameters(stack: RunningStack) -> None:
    deployment = stack.prefect(f"deployments/name/{DEPLOYMENT}")
    pool = stack.prefect(f"work_pools/{deployment['work_pool_name']}")
    limit = stack.prefect("v2/concurrency_limits/champion-promotion")

    assert deployment["work_pool_name"] == "sentiment-process"
    assert pool["type"] == "process"
    assert deployment["parameters"] == {"champion": True}
    schema = deployment["parameter_openapi_schema"]["properties"]
    assert {"data_path", "champion", "challenger", "params_path", "model_name"} <= set(schema)
    assert schema["challenger"]["default"] is False  # `-p challenger=true` nominates
    assert limit["limit"] == 1


def test_a_deployment_run_through_the_worker_completes(stack: RunningStack) -> None:
    # Other tests start runs of this deployment too (a drift check's retraining): this one
    # counts the runs it started, by a tag of its own.
    tag = f"test-deployment-{secrets.token_hex(4)}"
    command = [sys.executable, "-m", "prefect", "deployment", "run", DEPLOYMENT]
    command += ["--param", "model_name=deployed-model", "--param", "champion=true"]
    command += ["--tag", tag]
    command += ["--watch", "--watch-timeout", "300"]

    result = subprocess.run(
        command, env=stack.client_env(), capture_output=True, text=True, timeout=360, check=False
    )
    assert result.returncode == 0, output(result)

    deployment = stack.prefect(f"deployments/name/{DEPLOYMENT}")
    runs = stack.prefect(
        "flow_runs/filter",
        {
            "deployments": {"id": {"any_": [deployment["id"]]}},
            "flow_runs": {"tags": {"all_": [tag]}},
        },
    )
    assert len(runs) == 1
    run = runs[0]
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["parameters"]["model_name"] == "deployed-model"
    task_runs = stack.wait_task_runs_completed(run["id"])
    assert {task["name"].rsplit("-", 1)[0] for task in task_runs} >= TASK_NAMES
    assert {task["state_type"] for task in task_runs} == {"COMPLETED"}
    champion = stack.mlflow().get_model_version_by_alias("deployed-model", "champion")
    assert champion.version in ("1", 1)
