"""A real SQLite MLflow store holding one model trained on the demo reviews."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sentiment_mlops.core.data import load_reviews
from sentiment_mlops.core.evaluation import evaluate
from sentiment_mlops.core.model import train_model
from sentiment_mlops.core.params import load_params
from sentiment_mlops.core.split import Split, split_reviews
from sentiment_mlops.flows.tracking import Tracker
from sentiment_mlops.flows.types import TrainingRequest
from sentiment_mlops.process import configure_process
from sentiment_mlops.settings import Settings
from tests.support.paths import DEMO_DATA, PARAMS_FILE

MODEL_NAME = "registry-test-model"  # the registered model of `logged`


@dataclass
class LoggedModel:
    settings: Settings
    tracker: Tracker
    model: Any
    split: Split
    run_id: str
    model_uri: str
    version: str


@pytest.fixture(scope="session")
def logged(tmp_path_factory: pytest.TempPathFactory, migrated_store_template: Path) -> LoggedModel:
    """One training, logged and registered once for every registry test module (each adds
    only what it reads by its own id: a run, an alias of this model)."""
    folder = tmp_path_factory.mktemp("registry")
    shutil.copyfile(migrated_store_template, folder / "mlflow.db")  # no migrations to wait for
    settings = Settings(
        mlflow_tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        artifact_location=str(folder / "mlartifacts"),
    )
    params = load_params(PARAMS_FILE)
    reviews = load_reviews(DEMO_DATA)
    split = split_reviews(reviews.texts, reviews.labels, params.data)
    model = train_model(split, params)
    evaluation = evaluate(model, split.test_texts, split.test_labels)
    request = TrainingRequest(
        data_path=Path(DEMO_DATA),
        params_path=PARAMS_FILE,
        experiment="registry-test",
        model_name=MODEL_NAME,
        champion_metric=settings.champion_metric,
    )
    configure_process(settings)  # as the flow's entry does (the fluent model logging needs it)
    tracker = Tracker.connect(settings, request.experiment)
    run_id, model_uri = tracker.log_run(model, reviews, split, params, evaluation, request)
    ref = tracker.register(request.model_name, model_uri, run_id, evaluation)
    return LoggedModel(settings, tracker, model, split, run_id, model_uri, ref.version)
