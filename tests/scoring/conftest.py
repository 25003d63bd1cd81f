"""The scoring tests run on the serving tests' store: version 1 of the demo model, champion."""

from __future__ import annotations

import pytest

from sentiment_mlops.settings import Settings
from tests.serving.conftest import mlflow_store  # noqa: F401
from tests.serving.helpers import MlflowStore


@pytest.fixture
def settings(mlflow_store: MlflowStore) -> Settings:  # noqa: F811
    return mlflow_store.settings(score_batch_size=64)
