import logging
from pathlib import Path

import pandas as pd
import pytest

from sentiment_mlops.core.data import DataError, DataUnavailableError, load_reviews


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_loads_text_and_label(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", pd.DataFrame({"text": ["good", "bad"], "label": [1, 0]}))
    reviews = load_reviews(path)
    assert reviews.frame.to_dict("list") == {"text": ["good", "bad"], "label": [1, 0]}


def test_accepts_review_and_sentiment_names_with_word_labels(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"review": ["good", "bad", "meh"], "sentiment": ["positive", "Negative", "NEGATIVE"]}
    )
    reviews = load_reviews(write_csv(tmp_path / "imdb.csv", frame))
    assert reviews.labels.tolist() == [1, 0, 0]
    assert reviews.texts.tolist() == ["good", "bad", "meh"]


def test_reads_parquet(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    pd.DataFrame({"text": ["good", "bad"], "label": ["1", "0"]}).to_parquet(path)
    assert load_reviews(path).labels.tolist() == [1, 0]


def test_drops_empty_text_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"text": ["good", "  ", None, "bad"], "label": [1, 0, 1, 0]})
    path = write_csv(tmp_path / "r.csv", frame)
    with caplog.at_level(logging.WARNING):
        reviews = load_reviews(path)
    assert reviews.texts.tolist() == ["good", "bad"]
    assert reviews.dropped_empty == 2
    assert "dropped 2 row(s) with empty text" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("", "file is empty"),
        ("text,label\n", "header but no rows"),
        ("body,label\nx,1\ny,0\n", "missing text column"),
        ("text,stars\nx,1\ny,0\n", "missing label column"),
        ("text,label\nx,1\ny,maybe\n", "unknown label value(s) 'maybe'"),
        ("text,label\nx,1\ny,1\n", "only one class"),
        ("text,label\nx,1\ny,\n", "have no label"),
        ("text,label\n ,1\n ,0\n", "no rows with text"),
    ],
    ids=[
        "missing-file",
        "empty-file",
        "no-rows",
        "no-text-column",
        "no-label-column",
        "unknown-label",
        "single-class",
        "missing-label",
        "all-empty-text",
    ],
)
def test_bad_data_names_the_file_and_the_problem(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "reviews.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError) as error:
        load_reviews(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "reviews.xlsx"
    path.write_bytes(b"whatever")
    with pytest.raises(DataError, match="unsupported file type"):
        load_reviews(path)


def test_demo_data_is_balanced_and_distinct(demo_data: Path) -> None:
    reviews = load_reviews(demo_data)
    counts = reviews.labels.value_counts()
    assert len(reviews.frame) >= 200
    assert counts[0] == counts[1]
    assert reviews.texts.is_unique
    assert reviews.texts.str.contains("<br />").any()


def test_an_input_output_error_may_pass(tmp_path: Path) -> None:
    # Reading /proc/self/mem from its start fails with EIO: a real I/O error, as a flaky
    # network share gives; the file itself may be fine, so a retry is worth it.
    flaky = tmp_path / "flaky.csv"
    flaky.symlink_to("/proc/self/mem")
    with pytest.raises(DataUnavailableError, match="Input/output error"):
        load_reviews(flaky)
