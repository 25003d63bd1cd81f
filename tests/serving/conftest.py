"""Fixtures of the serving tests: a temporary SQLite MLflow with a trained champion, a served
API with a prediction log on SQLite, and the app in-process with its log on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sentiment_mlops.serving.app import create_app
from tests.serving.helpers import MlflowStore, wait_until
from tests.serving.log_support import LoggedService, logged_service
from tests.serving.store_template import copy_trained_store
from tests.support.postgres import fresh_database


@pytest.fixture(scope="session")
def mlflow_store(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_store_template: Path,
) -> MlflowStore:
    """Version 1 of the model, trained on data/demo_reviews.csv, is the champion: this
    session's own copy of a store trained once (tests/serving/store_template.py)."""
    root = tmp_path_factory.mktemp("mlflow")
    return copy_trained_store(request, root, migrated_store_template)


@pytest.fixture(scope="session")
def sqlite_logged(
    mlflow_store: MlflowStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoggedService]:
    """A served API whose prediction log is a SQLite file, texts as hash and length only; the
    writer gathers for 1 s (so a prediction answered a moment ago is still queued), retention:
    1 day, checked every 0.2 s; live accuracy over the last 4 labels.

    Also the real server of the quick tests that need one but no setting of their own (the
    schema's read endpoints, hostile clients): one process started is ~4 s of CPU saved."""
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


@pytest.fixture(scope="module")
def postgres_logged(mlflow_store: MlflowStore) -> Iterator[LoggedService]:
    """The app in this process (the same writer and store as in a served one; `sqlite_logged`
    is the served process), logging to a fresh PostgreSQL database, texts included."""
    with fresh_database("predlog_test") as url:
        settings = mlflow_store.settings(
            prediction_log_url=url,
            prediction_log_flush_interval=0.05,
            model_reload_interval=3600,  # no test here reloads; no polling in this process
        )
        with TestClient(create_app(settings)) as http:
            wait_until(lambda: http.get("/health").status_code == 200, timeout=120)
            service = LoggedService(http, url)
            wait_until(service.has_tables, timeout=60)
            yield service
