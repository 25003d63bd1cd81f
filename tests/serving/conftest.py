"""Fixtures of the serving tests: a temporary SQLite MLflow with a trained champion, and served
APIs with a prediction log on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.helpers import MlflowStore, train_store
from tests.serving.log_support import LoggedService, logged_service
from tests.support.postgres import fresh_database


@pytest.fixture(scope="session")
def mlflow_store(
    tmp_path_factory: pytest.TempPathFactory, migrated_store_template: Path
) -> MlflowStore:
    """Version 1 of the model, trained on data/demo_reviews.csv, is the champion."""
    root = tmp_path_factory.mktemp("mlflow")
    shutil.copyfile(migrated_store_template, root / "mlflow.db")  # no migrations to wait for
    return train_store(root)


@pytest.fixture(scope="session")
def sqlite_logged(
    mlflow_store: MlflowStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoggedService]:
    """A served API whose prediction log is a SQLite file, texts as hash and length only; the
    writer gathers for 1 s (so a prediction answered a moment ago is still queued), retention:
    1 day, checked every 0.2 s; live accuracy over the last 4 labels."""
    root = tmp_path_factory.mktemp("log-sqlite")
    with logged_service(
        mlflow_store,
        root,
        f"sqlite:///{root / 'predictions.db'}",
        LOG_TEXTS="false",
        PREDICTION_LOG_FLUSH_INTERVAL="1",
        PREDICTION_LOG_RETENTION_DAYS="1",
        PREDICTION_LOG_RETENTION_INTERVAL="0.2",
        FEEDBACK_WINDOW="4",
    ) as service:
        yield service


@pytest.fixture(scope="session")
def postgres_logged(
    mlflow_store: MlflowStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoggedService]:
    """A served API logging to a fresh PostgreSQL database, texts included."""
    root = tmp_path_factory.mktemp("log-postgres")
    with (
        fresh_database("predlog_test") as url,
        logged_service(mlflow_store, root, url, PREDICTION_LOG_FLUSH_INTERVAL="0.05") as service,
    ):
        yield service
