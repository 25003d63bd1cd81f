"""Which way a ServedModel scores: the lean path for our pipeline, scikit-learn for others."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from sentiment_mlops.core.data import load_reviews
from sentiment_mlops.core.model import build_pipeline
from sentiment_mlops.core.params import load_params
from sentiment_mlops.model_ref import ModelRef
from sentiment_mlops.serving.served_model import ServedModel, validate_model
from tests.support.paths import DEMO_DATA, PARAMS_FILE
from tests.unit.test_lean_scorer import EDGE_TEXTS, _other_shapes

REVIEWS = load_reviews(DEMO_DATA)
TEXTS = [*REVIEWS.texts.tolist()[:40], *EDGE_TEXTS]


def _fit(pipeline: Pipeline) -> Pipeline:
    return pipeline.fit(REVIEWS.texts, REVIEWS.labels)


def _served(model: Any) -> ServedModel:
    ref = ModelRef(name="m", version="3", run_id=None)
    return ServedModel(model, ref, validate_model(model), {}, datetime.now(UTC))


def _probabilities(served: ServedModel, texts: list[str]) -> np.ndarray:
    rows = served.predict(texts)
    return np.array([[row["probabilities"][label] for label in served.labels] for row in rows])


def test_our_pipeline_is_scored_on_the_lean_path() -> None:
    model = _fit(build_pipeline(load_params(PARAMS_FILE)))
    expected = model.predict_proba(TEXTS)
    served = _served(model)
    assert served.scoring_path == "lean"
    np.testing.assert_allclose(_probabilities(served, TEXTS), expected, rtol=0, atol=1e-12)
    # The served snapshot no longer goes through the classifier's predict_proba: emptied
    # afterwards, scikit-learn would answer 0.5 everywhere, the snapshot still answers.
    classifier = model.named_steps["clf"]
    classifier.coef_ = np.zeros_like(classifier.coef_)
    classifier.intercept_ = np.zeros_like(classifier.intercept_)
    assert np.all(model.predict_proba(TEXTS[:3]) == 0.5)
    np.testing.assert_allclose(_probabilities(served, TEXTS), expected, rtol=0, atol=1e-12)


@pytest.mark.slow  # several models trained: over a second of CPU
def test_other_shapes_fall_back_to_scikit_learn_and_answer_alike(caplog) -> None:
    caplog.set_level(logging.INFO, logger="sentiment_mlops.serving.served_model")
    for name, model in _other_shapes().items():
        if len(model.classes_) != 2:
            continue  # not servable: validate_model refuses it (tests/serving/test_model_store)
        served = _served(model)
        assert served.scoring_path == "sklearn", name
        expected = model.predict_proba(TEXTS)
        np.testing.assert_allclose(_probabilities(served, TEXTS), expected, rtol=0, atol=1e-12)
    assert "version 3: scoring through scikit-learn (" in caplog.text


class _DoubledTfidf(TfidfVectorizer):
    """A TF-IDF whose transform does more than its weighting: the lean path cannot know."""

    def transform(self, raw_documents: Any) -> Any:
        return super().transform(raw_documents) * 2.0


def test_a_lean_path_that_differs_from_predict_proba_is_refused_at_load(caplog) -> None:
    model = _fit(Pipeline([("tfidf", _DoubledTfidf()), ("clf", LogisticRegression())]))
    served = _served(model)
    assert served.scoring_path == "sklearn"
    assert "version 3: lean scoring refused, differs from predict_proba by" in caplog.text
    np.testing.assert_array_equal(_probabilities(served, TEXTS), model.predict_proba(TEXTS))
    served.predict(TEXTS[:2])
    assert caplog.text.count("lean scoring refused") == 1  # decided once, not per call
