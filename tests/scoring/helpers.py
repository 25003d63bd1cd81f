"""What the API answers for texts: the reference both engines must reproduce."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient

from sentiment_mlops.serving.app import create_app
from tests.serving.helpers import MlflowStore, wait_until

API_BATCH = 500


@contextmanager
def served_api(store: MlflowStore) -> Iterator[TestClient]:
    """The API serving the store's champion, in-process, without a prediction log."""
    app = create_app(store.settings(max_batch_size=API_BATCH, prediction_log_url=None))
    with TestClient(app) as client:
        wait_until(lambda: client.get("/health").status_code == 200, timeout=60)
        yield client


def predict_batch(api: TestClient, texts: Sequence[str]) -> list[dict[str, Any]]:
    """`/predict/batch` over all texts, API_BATCH at a time, in order."""
    answers: list[dict[str, Any]] = []
    for start in range(0, len(texts), API_BATCH):
        response = api.post(
            "/predict/batch", json={"texts": list(texts[start : start + API_BATCH])}
        )
        assert response.status_code == 200, response.text
        answers.extend(response.json()["predictions"])
    return answers


def assert_matches_api(scored: pd.DataFrame, answers: list[dict[str, Any]]) -> None:
    """Scored rows with a text carry the API's label, confidence (1e-9) and version."""
    assert len(scored) == len(answers)
    assert scored["sentiment"].tolist() == [a["sentiment"] for a in answers]
    expected = pd.Series([a["confidence"] for a in answers])
    assert (scored["confidence"].reset_index(drop=True) - expected).abs().max() <= 1e-9
    assert scored["model_version"].astype(str).tolist() == [a["model_version"] for a in answers]
