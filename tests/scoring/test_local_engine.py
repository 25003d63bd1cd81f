"""The local engine gives every row the API's label, confidence and version, keeps the input's
columns, leaves rows without text unscored (counted), and records the run in MLflow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from sentiment_mlops.scoring.request import ScoringRequest
from sentiment_mlops.scoring.run import run_scoring
from sentiment_mlops.settings import Settings
from tests.scoring.helpers import (
    FILE_FORMATS,
    assert_matches_api,
    predict_batch,
    score_as,
    served_api,
)
from tests.scoring.reviews import generated_reviews, read_scored, write_reviews
from tests.serving.helpers import MlflowStore

ROWS = 3_000
NULLS = (5, 17, 2_999)


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    frame = generated_reviews(ROWS, nulls=NULLS)
    frame.loc[40, "text"] = "   "  # whitespace only: no text either
    frame.loc[41, "text"] = 'A "quoted", two-line\nreview, with commas. Loved it.'
    return frame


@pytest.fixture(scope="module")
def api_answers(mlflow_store: MlflowStore, reviews: pd.DataFrame) -> Iterator[list[dict]]:
    texts = reviews["text"].dropna()
    texts = texts[texts.str.strip() != ""]
    with served_api(mlflow_store) as api:
        yield predict_batch(api, texts.tolist())


@FILE_FORMATS
def test_rows_get_the_labels_and_probabilities_of_predict_batch(
    settings: Settings,
    reviews: pd.DataFrame,
    api_answers: list[dict],
    tmp_path: Path,
    names: tuple[str, str],
) -> None:
    result, target = score_as(settings, reviews, tmp_path, names, batch_size=128)
    assert (result.rows, result.null_texts, result.model_version) == (ROWS, len(NULLS) + 1, "1")
    scored = read_scored(target)
    assert list(scored.columns) == [
        "id",
        "text",
        "label",
        "sentiment",
        "confidence",
        "model_version",
    ]
    assert scored["label"].tolist() == reviews["label"].tolist()
    unscored = [*NULLS, 40]
    without_text = scored.loc[unscored]
    assert without_text["sentiment"].isna().all() and without_text["confidence"].isna().all()
    assert_matches_api(scored.drop(index=unscored), api_answers)
    assert scored.loc[41, "text"] == reviews.loc[41, "text"]  # quotes and line break kept


def test_the_run_is_recorded_in_the_scoring_experiment(
    settings: Settings, reviews: pd.DataFrame, tmp_path: Path
) -> None:
    source = write_reviews(tmp_path / "in.csv", reviews)
    target = tmp_path / "out.parquet"
    run_scoring(ScoringRequest(str(source), str(target)), settings)
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("sentiment-scoring")
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"params.output = '{target}'"
    )
    assert len(runs) == 1
    run = runs[0]
    assert run.data.metrics["rows"] == ROWS
    assert run.data.metrics["null_texts"] == len(NULLS) + 1
    assert run.data.metrics["seconds"] > 0
    assert run.data.tags["model_version"] == "1"
    assert run.data.params["model_uri"] == "models:/sentiment-classifier/1"
    assert run.info.status == "FINISHED"


def test_a_version_number_scores_with_that_version(
    settings: Settings, mlflow_store: MlflowStore, reviews: pd.DataFrame, tmp_path: Path
) -> None:
    version = mlflow_store.register("sentiment-classifier")  # a second version, no alias
    source = write_reviews(tmp_path / "in.parquet", reviews.head(50))
    target = tmp_path / "out.parquet"
    uri = f"models:/sentiment-classifier/{version}"
    result = run_scoring(ScoringRequest(str(source), str(target), model_uri=uri), settings)
    assert result.model_version == version != "1"
    assert set(read_scored(target)["model_version"]) == {version}
