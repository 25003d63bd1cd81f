"""The Evidently report on rows logged without their text (`LOG_TEXTS=false`)."""

from __future__ import annotations

import pandas as pd
import pytest

from sentiment_mlops.core.text import WordNgrams
from sentiment_mlops.monitoring.drift import compute_drift
from sentiment_mlops.monitoring.rules import load_monitoring_params
from tests.support.paths import DEMO_DATA, PARAMS_FILE

PARAMS = load_monitoring_params(PARAMS_FILE)
pytestmark = pytest.mark.slow  # importing Evidently takes 10 to 20 s


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference: 120 demo reviews; window: 100 others, as the log stores them."""
    reviews = pd.read_csv(DEMO_DATA)
    labels = reviews["label"].map({0: "negative", 1: "positive"})
    reference = pd.DataFrame({"text": reviews["text"][:120], "predicted": labels[:120]})
    texts = reviews["text"][200:300].reset_index(drop=True)
    window = pd.DataFrame(
        {
            "text": texts,
            "text_length": texts.str.len(),
            "predicted": labels[200:300].reset_index(drop=True),
        }
    )
    return reference, window


def _report(reference: pd.DataFrame, window: pd.DataFrame):
    tokenize = WordNgrams().tokens
    vocabulary = {word for text in reference["text"] for word in tokenize(text)}
    return compute_drift(reference, window, tokenize, vocabulary, PARAMS)


def test_hash_only_rows_compare_length_and_class_balance(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    reference, window = frames
    # Served texts three times as long: the stored length must show it without the text.
    hashed = window.assign(text=None, text_length=window["text_length"] * 3)
    report = _report(reference, hashed)
    assert report.text is None
    assert report.text_rows == 0
    assert [d.column for d in report.descriptors] == ["length"]
    assert report.drifted_descriptors == ("length",)
    assert report.class_balance.column == "predicted"
    assert report.summary()["text"] is None


def test_rows_with_text_are_compared_on_every_descriptor(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    reference, window = frames
    some_hashed = window.copy()
    some_hashed.loc[:29, "text"] = None  # 70 of 100 still have their text
    report = _report(reference, some_hashed)
    assert report.text_rows == 70
    assert report.window_rows == 100
    assert report.text is not None
    assert report.text.method == PARAMS.text_drift_method
    assert [d.column for d in report.descriptors] == ["length", "oov_share", "non_letter_share"]
    assert all(d.method == PARAMS.descriptor_drift_method for d in report.descriptors)
