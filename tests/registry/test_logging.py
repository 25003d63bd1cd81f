"""What a training run leaves in MLflow, checked through MLflow's own APIs."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from sentiment_mlops import registry
from sentiment_mlops.errors import NotFoundError
from tests.registry.conftest import LoggedModel
from tests.registry.scores import assert_scores, expected_scores


def test_run_has_params_metrics_tags_and_plots(logged: LoggedModel) -> None:
    client = logged.tracker.client
    run = client.get_run(logged.run_id)
    assert run.data.params["model.C"] == str(logged.model.named_steps["clf"].C)
    assert {"accuracy", "f1", "roc_auc", "log_loss", "precision", "recall"} <= set(run.data.metrics)
    assert run.data.tags["data.path"].endswith("demo_reviews.csv")
    artifacts = {item.path for item in client.list_artifacts(logged.run_id, "plots")}
    assert artifacts == {"plots/confusion_matrix.png", "plots/roc_curve.png"}


def test_run_records_the_dataset(logged: LoggedModel) -> None:
    run = logged.tracker.client.get_run(logged.run_id)
    (dataset_input,) = run.inputs.dataset_inputs
    dataset = dataset_input.dataset
    assert dataset.name == "demo_reviews.csv"
    assert dataset.digest
    assert '"num_rows": 332' in dataset.profile
    assert dataset_input.tags[0].value == "training"


def test_version_is_tagged_with_metrics(logged: LoggedModel) -> None:
    ref = registry.get_version(logged.tracker.client, "registry-test-model", logged.version)
    assert ref.run_id == logged.run_id
    assert float(ref.tags["metric.f1"]) == pytest.approx(
        logged.tracker.client.get_run(logged.run_id).data.metrics["f1"], abs=1e-4
    )


def test_logged_model_has_signature_and_pinned_requirements(logged: LoggedModel) -> None:
    info = mlflow.models.get_model_info(f"models:/registry-test-model/{logged.version}")
    assert info.signature is not None
    assert info.signature.inputs.input_types() == [mlflow.types.DataType.string]
    outputs = info.signature.outputs
    assert outputs.input_names() == ["sentiment", "confidence"]
    assert outputs.input_types() == [mlflow.types.DataType.string, mlflow.types.DataType.double]
    local = mlflow.artifacts.download_artifacts(f"models:/registry-test-model/{logged.version}")
    requirements = (__import__("pathlib").Path(local) / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "mlflow==" in requirements


def test_sklearn_flavour_loads_and_matches(logged: LoggedModel) -> None:
    ref = registry.get_version(logged.tracker.client, "registry-test-model", logged.version)
    loaded = registry.load_model(logged.tracker.client, ref)
    texts = logged.split.test_texts.tolist()
    assert loaded.predict(texts).tolist() == logged.model.predict(texts).tolist()


def test_pyfunc_predicts_each_row_for_lists_and_frames(logged: LoggedModel) -> None:
    """The peer project's bug: a one-column table made TF-IDF read the column name."""
    pyfunc = mlflow.pyfunc.load_model(f"models:/registry-test-model/{logged.version}")
    texts = logged.split.test_texts.tolist()
    expected = expected_scores(logged.model, texts)
    assert_scores(pyfunc.predict(texts), expected)
    assert_scores(pyfunc.predict(pd.DataFrame({"text": texts})), expected)
    assert_scores(pyfunc.predict(pd.DataFrame({"review": texts})), expected)


def test_alias_resolution_and_promotion(logged: LoggedModel) -> None:
    client = logged.tracker.client
    name = "registry-test-model"
    assert registry.get_alias(client, name, "champion") is None
    assert registry.get_alias(client, "no-such-model", "champion") is None
    assert registry.promote(client, name, logged.version, "champion") is None
    assert registry.get_alias(client, name, "champion").version == logged.version
    with pytest.raises(NotFoundError, match="has no version 99"):
        registry.set_alias(client, name, "staging", "99")
