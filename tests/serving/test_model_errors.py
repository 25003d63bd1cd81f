"""A text that makes the served model raise, among concurrent requests to a real server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from sentiment_mlops import registry
from tests.serving.helpers import MlflowStore, log_model, run_service, wait_until
from tests.serving.poisoned_model import POISON, PoisonedModel
from tests.support.paths import PROJECT_ROOT

POSITIVE = "A wonderful, moving film. The cast is brilliant and I loved every minute of it."
NEGATIVE = "Dull, boring and far too long. The plot is stupid and the acting is terrible."


@pytest.mark.slow
def test_only_the_request_that_breaks_the_model_fails(
    mlflow_store: MlflowStore, tmp_path: Path
) -> None:
    client = mlflow_store.client()
    run_id, model_uri = log_model(
        client, mlflow_store.experiment_id, PoisonedModel(mlflow_store.model)
    )
    ref = registry.register_version(client, "poisoned-classifier", model_uri, run_id, {})
    registry.promote(client, "poisoned-classifier", ref.version, "champion")
    env = mlflow_store.env(MODEL_NAME="poisoned-classifier", PYTHONPATH=str(PROJECT_ROOT))

    async def burst(url: str) -> list[httpx.Response]:
        """Eight requests at once; while one call sleeps, the others queue for the next."""
        texts = [POSITIVE, NEGATIVE, POSITIVE, POISON, NEGATIVE, POSITIVE, NEGATIVE, POSITIVE]
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            calls = [http.post("/predict", json={"text": text}) for text in texts]
            return await asyncio.gather(*calls)

    with run_service(env, tmp_path) as service:
        wait_until(lambda: httpx.get(f"{service.url}/health").status_code == 200, timeout=60)
        for _ in range(3):
            statuses = [response.status_code for response in asyncio.run(burst(service.url))]
            assert statuses == [200, 200, 200, 500, 200, 200, 200, 200], service.tail()
