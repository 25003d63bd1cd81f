"""Versions logged before the pyfunc flavour answered scores (scikit-learn's flavour: labels
only) still score with the local engine, exactly as the current flavour's versions do; the Spark
engine, which runs the pyfunc flavour, refuses them with one line before Spark starts."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from typer.testing import CliRunner

from sentiment_mlops.cli.main import app
from sentiment_mlops.scoring.request import ScoringRequest
from sentiment_mlops.scoring.run import run_scoring
from sentiment_mlops.settings import Settings
from tests.scoring.helpers import store_environment
from tests.scoring.reviews import generated_reviews, read_scored, write_reviews
from tests.serving.helpers import MODEL_NAME, MlflowStore

LEGACY = "legacy-sentiment"


@pytest.fixture(scope="module")
def legacy_version(mlflow_store: MlflowStore) -> str:
    """The store's pipeline logged as before issue 17: `mlflow.sklearn.log_model`'s pyfunc."""
    mlflow_store.client()  # the process on the store, for MLflow's fluent logging
    with mlflow.start_run(experiment_id=mlflow_store.experiment_id):
        info = mlflow.sklearn.log_model(
            mlflow_store.model,
            name="model",
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        )
    flavour = mlflow.models.get_model_info(info.model_uri).flavors["python_function"]
    assert flavour["loader_module"] == "mlflow.sklearn"
    return mlflow_store.register(LEGACY, info.model_uri)


def test_the_local_engine_scores_a_legacy_version_as_a_current_one(
    settings: Settings, legacy_version: str, tmp_path: Path
) -> None:
    source = write_reviews(tmp_path / "in.parquet", generated_reviews(300, nulls=[7]))
    outputs = {}
    for uri in (f"models:/{LEGACY}/{legacy_version}", f"models:/{MODEL_NAME}/1"):
        target = tmp_path / f"{uri.split('/')[1]}.parquet"
        result = run_scoring(ScoringRequest(str(source), str(target), model_uri=uri), settings)
        assert (result.rows, result.null_texts) == (300, 1)
        outputs[uri] = read_scored(target).drop(columns="model_version")
    legacy, current = outputs.values()
    assert legacy.equals(current)


def test_the_spark_engine_refuses_a_legacy_version_in_one_line(
    mlflow_store: MlflowStore,
    legacy_version: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    source = write_reviews(tmp_path / "in.csv", generated_reviews(20))
    uri = f"models:/{LEGACY}/{legacy_version}"
    arguments = ["score", "--input", str(source), "--output", str(tmp_path / "out.parquet")]
    with store_environment(mlflow_store, monkeypatch):
        result = CliRunner().invoke(app, [*arguments, "--engine", "spark", "--model-uri", uri])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"error: {uri} was logged before its pyfunc flavour answered confidences (it gives "
        "labels only): score it with --engine local, or retrain it"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
