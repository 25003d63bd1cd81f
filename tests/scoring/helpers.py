"""What the API answers for texts: the reference both engines must reproduce."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from sentiment_mlops.scoring.request import ScoringRequest, ScoringResult
from sentiment_mlops.scoring.run import run_scoring
from sentiment_mlops.serving.app import create_app
from sentiment_mlops.settings import Settings, get_settings
from tests.scoring.reviews import write_reviews
from tests.serving.helpers import MlflowStore, wait_until

API_BATCH = 500
# Each engine reads CSV and writes Parquet, and reads Parquet and writes CSV.
FILE_FORMATS = pytest.mark.parametrize(
    "names", [("in.csv", "out.parquet"), ("in.parquet", "out.csv")], ids=["csv", "parquet"]
)


@contextmanager
def store_environment(store: MlflowStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The store selected through the environment, as for the CLI or a flow on a worker."""
    for name, value in store.env().items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        get_settings.cache_clear()


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


def score_as(
    settings: Settings, reviews: pd.DataFrame, folder: Path, names: tuple[str, str], **options: Any
) -> tuple[ScoringResult, Path]:
    """Write `reviews` as the first name's format, score them into the second; result, output."""
    source, target = (folder / name for name in names)
    write_reviews(source, reviews)
    return run_scoring(ScoringRequest(str(source), str(target), **options), settings), target
