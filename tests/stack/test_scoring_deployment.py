"""Batch scoring as a deployment of the stack's worker (issue 17 part 2).

The worker scores a file with a model of its own (`scored`), so the other tests' champion is
untouched: the output holds every input row with the served labels, and the run is recorded in
the stack's MLflow.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.stack.helpers import RunningStack, output

pytestmark = pytest.mark.stack

DEPLOYMENT = "sentiment-scoring/local"


def test_scoring_and_tuning_are_deployed_on_demand(stack: RunningStack) -> None:
    for name in (DEPLOYMENT, "sentiment-tuning/local"):
        deployment = stack.prefect(f"deployments/name/{name}")
        assert deployment["work_pool_name"] == "sentiment-process"
        assert deployment["schedules"] == []


def test_a_scoring_run_through_the_worker_writes_the_scored_file(
    stack: RunningStack, tmp_path: Path
) -> None:
    trained = stack.sentiment("train", "--champion", "--model-name", "scored")
    assert trained.returncode == 0, output(trained)
    reviews = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "text": ["A wonderful, moving film.", "Dull and far too long.", "Great acting."],
        }
    )
    source, target = tmp_path / "reviews.csv", tmp_path / "scored.parquet"
    reviews.to_csv(source, index=False)

    command = [sys.executable, "-m", "prefect", "deployment", "run", DEPLOYMENT]
    command += ["--param", f"input={source}", "--param", f"output={target}"]
    command += ["--param", "model_uri=models:/scored@champion"]
    command += ["--watch", "--watch-timeout", "300"]
    result = subprocess.run(
        command, env=stack.client_env(), capture_output=True, text=True, timeout=360, check=False
    )
    assert result.returncode == 0, output(result)

    scored = pd.read_parquet(target)
    assert scored["id"].tolist() == [1, 2, 3]
    assert set(scored["sentiment"]) <= {"positive", "negative"}
    assert scored["model_version"].astype(str).tolist() == ["1", "1", "1"]
    mlflow = stack.mlflow()
    experiment = mlflow.get_experiment_by_name("sentiment-scoring")
    (run,) = mlflow.search_runs(
        [experiment.experiment_id], filter_string="tags.model_name = 'scored'"
    )
    assert run.data.metrics["rows"] == 3
