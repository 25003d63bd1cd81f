"""Fixtures of the serving tests: a temporary SQLite MLflow with a trained champion."""

from __future__ import annotations

import os
from collections.abc import Iterator

import mlflow
import pytest

from tests.serving.helpers import MlflowStore, train_store


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> MlflowStore:
    """Version 1 of the model, trained on data/demo_reviews.csv, is the champion."""
    return train_store(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture(autouse=True)
def _restore_mlflow_uris(mlflow_store: MlflowStore) -> Iterator[None]:
    """`configure_mlflow` sets process-wide URIs; a test pointing a store elsewhere must not
    leave the next test talking to that place."""
    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    saved = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(saved[0])
    mlflow.set_registry_uri(saved[1])
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
