"""A real SQLite MLflow store holding one model trained on the demo reviews."""

from __future__ import annotations

import json
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sentiment_mlops.core.data import Reviews, load_reviews
from sentiment_mlops.core.evaluation import evaluate
from sentiment_mlops.core.model import train_model
from sentiment_mlops.core.params import load_params
from sentiment_mlops.core.split import Split, split_reviews
from sentiment_mlops.flows.tracking import Tracker
from sentiment_mlops.flows.types import TrainingRequest
from sentiment_mlops.process import configure_process
from sentiment_mlops.settings import Settings
from tests.support.mlflow_store import copy_moved_store
from tests.support.paths import DEMO_DATA, PARAMS_FILE
from tests.support.templates import TRAINED_STORE_LIBRARIES, Template, trained_store_sources

MODEL_NAME = "registry-test-model"  # the registered model of `logged`
EXPERIMENT = "registry-test"


@dataclass
class LoggedModel:
    settings: Settings
    tracker: Tracker
    model: Any
    split: Split
    run_id: str
    model_uri: str
    version: str


def _settings(root: Path) -> Settings:
    return Settings(
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_location=str(root / "mlartifacts"),
    )


def _request(settings: Settings) -> TrainingRequest:
    return TrainingRequest(
        data_path=Path(DEMO_DATA),
        params_path=PARAMS_FILE,
        experiment=EXPERIMENT,
        model_name=MODEL_NAME,
        champion_metric=settings.champion_metric,
    )


def _split() -> tuple[Reviews, Split]:
    reviews = load_reviews(DEMO_DATA)
    return reviews, split_reviews(reviews.texts, reviews.labels, load_params(PARAMS_FILE).data)


def _build(folder: Path, migrated_store: Path) -> None:
    """Train on the demo reviews, log and register as the flow's steps do, in `folder`/store;
    the fitted model and the run's ids beside it."""
    root = folder / "store"
    root.mkdir()
    shutil.copyfile(migrated_store, root / "mlflow.db")  # no migrations to wait for
    settings = _settings(root)
    params = load_params(PARAMS_FILE)
    reviews, split = _split()
    model = train_model(split, params)
    evaluation = evaluate(model, split.test_texts, split.test_labels)
    request = _request(settings)
    configure_process(settings)  # as the flow's entry does (the fluent model logging needs it)
    tracker = Tracker.connect(settings, request.experiment)
    run_id, model_uri = tracker.log_run(model, reviews, split, params, evaluation, request)
    ref = tracker.register(request.model_name, model_uri, run_id, evaluation)
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    facts = {"root": str(root), "run_id": run_id, "model_uri": model_uri, "version": ref.version}
    (folder / "logged.json").write_text(json.dumps(facts))


@pytest.fixture(scope="session")
def logged(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_store_template: Path,
) -> LoggedModel:
    """One training, logged and registered for every registry test module (each adds only
    what it reads by its own id: a run, an alias of this model).

    The store is this session's copy of a template (tests/support/templates.py) that an earlier
    session built with the same code, data, params and libraries: training, logging and
    registering cost ~3 CPU s a session, a copy milliseconds."""
    sources = trained_store_sources(Path(__file__))
    template = Template(request, "registry-store", TRAINED_STORE_LIBRARIES, sources=sources)
    folder = template.get(lambda staging: _build(staging, migrated_store_template))
    facts = json.loads((folder / "logged.json").read_text())
    root = tmp_path_factory.mktemp("registry")
    copy_moved_store(folder / "store", facts["root"], root)
    settings = _settings(root)
    configure_process(settings)  # the process on this store, as after logging to it
    tracker = Tracker.connect(settings, EXPERIMENT)
    model = pickle.loads((folder / "model.pkl").read_bytes())
    _, split = _split()
    return LoggedModel(
        settings, tracker, model, split, facts["run_id"], facts["model_uri"], facts["version"]
    )
