"""The Spark engine (local[2], `mlflow.pyfunc.spark_udf` over the version's pyfunc flavour) gives
every row the API's label, confidence and version, and the local engine's, and writes its folder
of part files atomically. One session for the module: Spark's start-up costs 10-20 s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from sentiment_mlops.errors import UserError
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

pytestmark = pytest.mark.slow
ROWS = 2_000
NULLS = (3, 1_500)
BLANK = 20  # a text of whitespace only: unscored, as a null one
UNSCORED = [*NULLS, BLANK]


@pytest.fixture(scope="module", autouse=True)
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("scoring-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    frame = generated_reviews(ROWS, nulls=NULLS)
    frame.loc[10, "text"] = 'A "quoted", two-line\nreview, with commas. Loved it.'
    frame.loc[BLANK, "text"] = " \t "
    return frame


@pytest.fixture(scope="module")
def api_answers(mlflow_store: MlflowStore, reviews: pd.DataFrame) -> Iterator[list[dict]]:
    with served_api(mlflow_store) as api:
        yield predict_batch(api, reviews["text"].drop(index=UNSCORED).tolist())


@pytest.fixture
def spark_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"spark_master": "local[2]"})


@FILE_FORMATS
def test_spark_rows_get_the_labels_and_probabilities_of_predict_batch(
    spark_settings: Settings,
    reviews: pd.DataFrame,
    api_answers: list[dict],
    tmp_path: Path,
    names: tuple[str, str],
) -> None:
    result, target = score_as(
        spark_settings, reviews, tmp_path, names, engine="spark", batch_size=256
    )
    assert (result.rows, result.null_texts, result.engine) == (ROWS, len(UNSCORED), "spark")
    assert target.is_dir() and (target / "_SUCCESS").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    scored = read_scored(target)
    assert scored["id"].tolist() == list(range(ROWS))
    assert scored.loc[10, "text"] == reviews.loc[10, "text"]
    assert scored.loc[UNSCORED, ["sentiment", "confidence"]].isna().all().all()
    assert_matches_api(scored.drop(index=UNSCORED), api_answers)

    local = tmp_path / "local"
    local.mkdir()
    _, local_target = score_as(spark_settings, reviews, local, names, batch_size=256)
    by_local = read_scored(local_target)
    unscored = "(null)"
    assert (
        scored["sentiment"].fillna(unscored).tolist()
        == by_local["sentiment"].fillna(unscored).tolist()
    )
    gap = (scored["confidence"] - by_local["confidence"]).abs()
    assert gap.max() <= 1e-9 and gap.isna().sum() == len(UNSCORED)


def test_an_existing_output_is_refused_and_left_alone(
    spark_settings: Settings, reviews: pd.DataFrame, tmp_path: Path
) -> None:
    source = write_reviews(tmp_path / "in.parquet", reviews.head(20))
    target = tmp_path / "out.parquet"
    target.write_bytes(b"older results")
    request = ScoringRequest(str(source), str(target), engine="spark")
    with pytest.raises(UserError, match="exists: use --force"):
        run_scoring(request, spark_settings)
    assert target.read_bytes() == b"older results"
    forced = ScoringRequest(str(source), str(target), engine="spark", force=True)
    assert run_scoring(forced, spark_settings).rows == 20
    assert len(read_scored(target)) == 20
