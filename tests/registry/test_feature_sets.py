"""Every feature set of params.yaml trains, logs, registers, loads through `mlflow.pyfunc` and
predicts each row, also where our package is not installed (the model ships its code)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from sentiment_mlops.core.data import load_reviews
from sentiment_mlops.core.evaluation import evaluate
from sentiment_mlops.core.model import train_model
from sentiment_mlops.core.params import TrainingParams, load_params
from sentiment_mlops.core.split import Split, split_reviews
from sentiment_mlops.flows.tracking import Tracker
from sentiment_mlops.flows.types import TrainingRequest
from sentiment_mlops.process import configure_process
from sentiment_mlops.settings import Settings
from tests.registry.conftest import MODEL_NAME, LoggedModel
from tests.registry.scores import assert_scores, expected_scores
from tests.registry.test_model_code import assert_loads_in_a_clean_environment
from tests.support.paths import DEMO_DATA, PARAMS_FILE

# A model trained, logged and registered per feature set: over a second of CPU each.
pytestmark = pytest.mark.slow

FEATURE_SETS = [
    ("word", None),
    ("word", 1.0),
    ("char_wb", None),
    ("word+char_wb", 0.5),
]


def _params(feature_set: str, nb_alpha: float | None) -> TrainingParams:
    return load_params(PARAMS_FILE).updated(
        {"features": {"set": feature_set, "nb_alpha": nb_alpha}}
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, migrated_store_template: Path) -> Settings:
    """Settings of one migrated SQLite store shared by the module's models."""
    folder = tmp_path_factory.mktemp("feature-sets")
    shutil.copyfile(migrated_store_template, folder / "mlflow.db")
    settings = Settings(
        mlflow_tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        artifact_location=str(folder / "mlartifacts"),
    )
    return settings


@dataclass(frozen=True)
class SetModel:
    """One feature set's model, logged and registered as `name` version `version`."""

    tracker: Tracker
    model: Pipeline
    split: Split
    name: str
    run_id: str
    version: str


@pytest.fixture
def set_model(
    store: Settings, logged: LoggedModel, feature_set: str, nb_alpha: float | None
) -> SetModel:
    """The model of the test's feature set, trained, logged and registered in `store`; that of
    params.yaml is the registry tests' session model (tests/registry/conftest.py), which the
    same steps made, not a second one. The process is configured for the model's store."""
    params = _params(feature_set, nb_alpha)
    if params == load_params(PARAMS_FILE):
        configure_process(logged.settings)
        return SetModel(
            logged.tracker, logged.model, logged.split, MODEL_NAME, logged.run_id, logged.version
        )
    configure_process(store)  # as the flow's entry does (the fluent model logging needs it)
    tracker = Tracker.connect(store, "feature-sets")
    reviews = load_reviews(DEMO_DATA)
    split = split_reviews(reviews.texts, reviews.labels, params.data)
    model = train_model(split, params)
    evaluation = evaluate(model, split.test_texts, split.test_labels)
    name = f"features-{feature_set.replace('+', '-')}-{nb_alpha}"
    request = TrainingRequest(
        data_path=Path(DEMO_DATA),
        params_path=PARAMS_FILE,
        experiment="feature-sets",
        model_name=name,
        champion_metric=store.champion_metric,
    )
    run_id, model_uri = tracker.log_run(model, reviews, split, params, evaluation, request)
    version = tracker.register(name, model_uri, run_id, evaluation).version
    return SetModel(tracker, model, split, name, run_id, version)


@pytest.mark.parametrize(("feature_set", "nb_alpha"), FEATURE_SETS)
def test_feature_set_trains_logs_registers_and_predicts_per_row(
    set_model: SetModel, tmp_path: Path, feature_set: str, nb_alpha: float | None
) -> None:
    model, split, name, version = (
        set_model.model,
        set_model.split,
        set_model.name,
        set_model.version,
    )
    assert ("nb" in model.named_steps) == (nb_alpha is not None)
    evaluation = evaluate(model, split.test_texts, split.test_labels)
    assert evaluation.metrics.accuracy > 0.6
    run = set_model.tracker.client.get_run(set_model.run_id)
    assert run.data.params["features.set"] == feature_set
    assert run.data.params["features.nb_alpha"] == str(nb_alpha)

    texts = split.test_texts.tolist()
    expected = expected_scores(model, texts)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    assert_scores(pyfunc.predict(texts), expected)
    assert_scores(pyfunc.predict(pd.DataFrame({"text": texts})), expected)
    one_by_one = pd.concat([pyfunc.predict([text]) for text in texts[:5]], ignore_index=True)
    assert one_by_one.equals(pyfunc.predict(texts[:5]))

    if feature_set == "word+char_wb":  # the model that needs the most of our code
        folder = Path(
            mlflow.artifacts.download_artifacts(
                f"models:/{name}/{version}", dst_path=str(tmp_path / "model")
            )
        )
        shipped = {p.name for p in (folder / "code").rglob("*.py")}
        assert {"nb.py", "text.py", "vectorizer.py"} <= shipped
        assert_loads_in_a_clean_environment(folder, texts, expected, tmp_path)
