"""`LeanScorer` gives scikit-learn's own probabilities, to the bit, and refuses other shapes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler

from sentiment_mlops.core.lean_scorer import LeanScorer, UnsupportedPipelineError
from sentiment_mlops.core.model import build_pipeline
from sentiment_mlops.core.params import TrainingParams, load_params
from tests.support.paths import PARAMS_FILE
from tests.unit.test_text import ODD_TEXTS
from tests.unit.test_vectorizer_corpus import _reviews, _words

PARAMS = load_params(PARAMS_FILE)
EDGE_TEXTS = [*ODD_TEXTS, "", " ", "   \t\n ", "😀", "日本 ж λ", "film " * 500]


def _corpus(seed: int, rows: int) -> tuple[list[str], np.ndarray, list[str]]:
    """Generated reviews (as the large vectorizer test makes them), labels that depend on
    their words, and unseen texts, some with words outside the vocabulary."""
    rng = np.random.default_rng(seed)
    words = _words(rng, 3000)
    training = _reviews(rng, words, rows)
    positive = set(words[1::2])
    labels = np.array([sum(w in positive for w in t.split()) % 2 for t in training])
    unseen = _reviews(rng, words + _words(rng, 300), 400)
    return training, labels, unseen


def _fitted(params: TrainingParams, rows: int = 2000) -> tuple[Pipeline, list[str]]:
    training, labels, unseen = _corpus(7, rows)
    return build_pipeline(params).fit(training, labels), unseen + EDGE_TEXTS + training[:50]


def _assert_same_proba(pipeline: Any, texts: list[str]) -> None:
    lean = LeanScorer.of(pipeline)
    # One text (the lean path's own sum of one row), a few, a batch, then all.
    for batch in ([texts[0]], [""], ["   "], texts[:2], texts[:3], texts[-8:], texts[:64], texts):
        expected = pipeline.predict_proba(batch)
        actual = lean.predict_proba(batch)
        assert actual.shape == expected.shape == (len(batch), 2)
        np.testing.assert_array_equal(actual, expected, err_msg=str(batch[:2]))


@pytest.mark.slow
def test_equals_predict_proba_with_the_real_params() -> None:
    pipeline, texts = _fitted(PARAMS, rows=6000)
    assert [name for name, _ in pipeline.steps] == ["to_text", "tfidf", "nb", "clf"]
    _assert_same_proba(pipeline, texts)


@pytest.mark.slow
def test_one_and_two_texts_are_counted_by_the_table_and_equal_predict_proba() -> None:
    """A server scores one request, or a canary split of a micro-batch, at a time: those calls
    take the vectorised counting (not scikit-learn's loop) and give its probabilities exactly."""
    pipeline, texts = _fitted(PARAMS, rows=3000)
    vectorizer = pipeline.named_steps["tfidf"]
    lean = LeanScorer.of(pipeline)
    lean.predict_proba(texts[:1])
    assert vectorizer.__dict__["_table"].usable  # built by a one-text call: the table counted
    singles = np.concatenate([lean.predict_proba([text]) for text in texts])
    np.testing.assert_array_equal(singles, pipeline.predict_proba(texts))
    for first in range(0, len(texts) - 1, 2):
        pair = texts[first : first + 2]
        np.testing.assert_array_equal(lean.predict_proba(pair), pipeline.predict_proba(pair))


@pytest.mark.parametrize(
    "change",
    [
        {"features": {"nb_alpha": None}},
        {"vectorizer": {"sublinear_tf": False}},
        {"features": {"set": "char_wb"}},  # scikit-learn's own analyzer
    ],
    ids=["no-nb", "linear-tf", "char_wb"],
)
@pytest.mark.slow  # a model trained per setting: over a second of CPU
def test_equals_predict_proba_for_the_other_supported_settings(change) -> None:
    pipeline, texts = _fitted(PARAMS.updated(change), rows=600)
    _assert_same_proba(pipeline, texts)


def test_equals_predict_proba_without_idf() -> None:
    training, labels, unseen = _corpus(3, 400)
    pipeline = Pipeline(
        [("tfidf", TfidfVectorizer(use_idf=False)), ("clf", LogisticRegression())]
    ).fit(training, labels)
    _assert_same_proba(pipeline, unseen + EDGE_TEXTS)


def _other_shapes() -> dict[str, Pipeline]:
    """Fitted pipelines of shapes the lean path does not score; only their shape matters, so
    few rows (the word+char union, 200,000 character n-grams at most, fits in a third of the
    time of 300 rows)."""
    training, labels, _ = _corpus(5, 120)
    three = labels + (np.arange(len(labels)) % 3 == 0)  # 0, 1 and 2
    union = build_pipeline(PARAMS.updated({"features": {"set": "word+char_wb"}}))
    shapes = {
        "l1 norm": ([("t", TfidfVectorizer(norm="l1")), ("c", LogisticRegression())], labels),
        "no norm": ([("t", TfidfVectorizer(norm=None)), ("c", LogisticRegression())], labels),
        "three classes": ([("t", TfidfVectorizer()), ("c", LogisticRegression())], three),
        "extra step": (
            [("t", TfidfVectorizer()), ("s", MaxAbsScaler()), ("c", LogisticRegression())],
            labels,
        ),
        "word+char union": (union.steps, labels),
    }
    return {name: Pipeline(steps).fit(training, y) for name, (steps, y) in shapes.items()}


@pytest.mark.slow  # a model trained per shape: over a second of CPU
def test_other_shapes_are_refused_with_a_reason() -> None:
    for name, pipeline in _other_shapes().items():
        with pytest.raises(UnsupportedPipelineError) as refusal:
            LeanScorer.of(pipeline)
        assert str(refusal.value), name
    with pytest.raises(UnsupportedPipelineError, match="not a Pipeline"):
        LeanScorer.of(LogisticRegression())
    with pytest.raises(UnsupportedPipelineError, match="fitted"):
        LeanScorer.of(build_pipeline(PARAMS))


def test_settings_changed_after_fitting_are_not_read_from_the_vectorizer() -> None:
    pipeline, texts = _fitted(PARAMS, rows=300)
    pipeline.named_steps["tfidf"].norm = "l1"  # transform still uses the fitted weighting's l2
    _assert_same_proba(pipeline, texts)
