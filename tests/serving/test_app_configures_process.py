"""The API is an entry point: its lifespan configures the process from the app's settings."""

from __future__ import annotations

import os
import sys

import pytest
from fastapi.testclient import TestClient

from sentiment_mlops.serving.app import create_app
from tests.serving.helpers import MlflowStore


def test_the_app_configures_its_process_when_it_starts(
    mlflow_store: MlflowStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What an earlier configuration of this process left: not the app's settings.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")
    settings = mlflow_store.settings(mlflow_http_timeout=7, prediction_log_url=None)

    app = create_app(settings)
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "99"  # building the app changes nothing
    with TestClient(app):
        assert os.environ["MLFLOW_TRACKING_URI"] == mlflow_store.tracking_uri
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"


def test_the_event_loop_gets_the_gil_back_within_a_millisecond(mlflow_store: MlflowStore) -> None:
    """Issue 15: another thread holding the GIL (the prediction log's writer) kept the event
    loop, and every request on it, waiting up to CPython's default 5 ms per hand-over. The app
    lowers the interval while it runs and gives the process its own value back when it stops."""
    own = sys.getswitchinterval()
    settings = mlflow_store.settings(prediction_log_url=None, model_reload_interval=3600)
    with TestClient(create_app(settings)):
        assert sys.getswitchinterval() <= 0.001
    assert sys.getswitchinterval() == own
