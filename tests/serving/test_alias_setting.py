"""MODEL_ALIAS is one setting: with MODEL_ALIAS=prod, `sentiment train --champion` moves `prod`
and a running API (serving `prod`) picks the new version up."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sentiment_mlops import registry
from tests.serving.helpers import (
    MlflowStore,
    log_model,
    run_cli,
    run_service,
    wait_until,
)
from tests.support.paths import DEMO_DATA, PARAMS_FILE

ALIAS_MODEL = "alias-model"  # its own registered model: other tests keep their champion


def _weak_model():
    """A model that knows three words: any real training beats it."""
    from sentiment_mlops.core.data import load_reviews
    from sentiment_mlops.core.model import train_model
    from sentiment_mlops.core.params import load_params
    from sentiment_mlops.core.split import split_reviews

    params = load_params(PARAMS_FILE)
    params = params.model_copy(
        update={"vectorizer": params.vectorizer.model_copy(update={"max_features": 3})}
    )
    reviews = load_reviews(DEMO_DATA)
    return train_model(split_reviews(reviews.texts, reviews.labels, params.data), params)


@pytest.mark.slow
def test_training_moves_model_alias_and_the_api_follows(
    mlflow_store: MlflowStore, tmp_path: Path
) -> None:
    client = mlflow_store.client()
    _, weak_uri = log_model(client, mlflow_store.experiment_id, _weak_model())
    weak = mlflow_store.register(ALIAS_MODEL, weak_uri)
    registry.promote(client, ALIAS_MODEL, weak, "prod")
    env = mlflow_store.env(MODEL_NAME=ALIAS_MODEL, MODEL_ALIAS="prod")

    with run_service(env, tmp_path) as service:
        http = httpx.Client(base_url=service.url, timeout=10)
        health = wait_until(lambda: (h := http.get("/health")).status_code == 200 and h, 60)
        assert health.json()["model_version"] == weak

        trained = run_cli(
            env | {"DATA_PATH": str(DEMO_DATA), "PARAMS_PATH": str(PARAMS_FILE)},
            tmp_path,
            "train",
            "--champion",
            "--no-prefect",
        )
        assert trained.returncode == 0, trained.stderr
        assert "promoted to champion" in trained.stdout, trained.stdout
        new = registry.get_alias(client, ALIAS_MODEL, "prod").version
        assert new != weak
        assert registry.get_alias(client, ALIAS_MODEL, "champion") is None

        wait_until(lambda: http.get("/health").json()["model_version"] == new, timeout=30)
        info = http.get("/model-info").json()
        assert (info["alias"], info["version"]) == ("prod", new)
