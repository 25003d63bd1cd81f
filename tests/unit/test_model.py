"""The pipeline, the split and the metrics, on the project's demo reviews."""

import numpy as np
import pandas as pd
import pytest

from sentiment_mlops.core.data import DataError, load_reviews
from sentiment_mlops.core.evaluation import evaluate
from sentiment_mlops.core.model import build_pipeline, train_model
from sentiment_mlops.core.params import TrainingParams, load_params
from sentiment_mlops.core.split import split_reviews
from tests.support.paths import DEMO_DATA, PARAMS_FILE


@pytest.fixture(scope="module")
def params() -> TrainingParams:
    return load_params(PARAMS_FILE)


@pytest.fixture(scope="module")
def trained(params: TrainingParams):
    reviews = load_reviews(DEMO_DATA)
    split = split_reviews(reviews.texts, reviews.labels, params.data)
    return split, train_model(split, params)


def test_split_is_stratified_and_seeded(params: TrainingParams) -> None:
    reviews = load_reviews(DEMO_DATA)
    first = split_reviews(reviews.texts, reviews.labels, params.data)
    second = split_reviews(reviews.texts, reviews.labels, params.data)
    assert first.test_texts.tolist() == second.test_texts.tolist()
    assert len(first.test_texts) == pytest.approx(len(reviews.frame) * params.data.test_size, abs=1)
    assert first.test_labels.mean() == pytest.approx(reviews.labels.mean(), abs=0.02)
    assert not set(first.test_texts) & set(first.train_texts)


def test_pipeline_follows_params(params: TrainingParams) -> None:
    pipeline = build_pipeline(params)
    tfidf, clf = pipeline.named_steps["tfidf"], pipeline.named_steps["clf"]
    assert tfidf.max_features == params.vectorizer.max_features
    assert tfidf.analyzer.ngram_range == tuple(params.vectorizer.ngram_range)
    assert tfidf.sublinear_tf == params.vectorizer.sublinear_tf
    assert clf.C == params.model.C


def test_metrics_are_in_range_and_beat_chance(trained) -> None:
    split, model = trained
    metrics = evaluate(model, split.test_texts, split.test_labels).metrics.as_dict()
    assert set(metrics) == {"accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"}
    for name in ("accuracy", "f1", "precision", "recall", "roc_auc"):
        assert 0.0 <= metrics[name] <= 1.0
    assert metrics["accuracy"] > 0.6
    assert metrics["roc_auc"] > 0.7
    assert metrics["log_loss"] > 0


def test_evaluation_matches_sklearn_predictions(trained) -> None:
    split, model = trained
    evaluation = evaluate(model, split.test_texts, split.test_labels)
    assert evaluation.predicted.tolist() == model.predict(split.test_texts).tolist()
    assert evaluation.confusion().sum() == len(split.test_texts)
    roc = evaluation.roc_points()
    assert roc["fpr"].iloc[0] == 0 and roc["tpr"].iloc[-1] == 1


def test_model_accepts_list_series_and_frame(trained) -> None:
    _, model = trained
    texts = ["a wonderful, moving film", "boring and far too long"]
    expected = model.predict_proba(texts)
    np.testing.assert_allclose(model.predict_proba(pd.Series(texts)), expected)
    np.testing.assert_allclose(model.predict_proba(pd.DataFrame({"text": texts})), expected)


# Behavioural tests: what any usable sentiment model must get right.
@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("An absolute masterpiece. Wonderful acting, I loved every minute.", 1),
        ("Terrible film. Boring, awful script, a complete waste of time.", 0),
    ],
)
def test_minimum_functionality(trained, text: str, label: int) -> None:
    _, model = trained
    assert model.predict([text])[0] == label


def test_invariance_to_markup_and_case(trained) -> None:
    _, model = trained
    plain = "a moving story with great performances"
    noisy = "<br /><br />A MOVING story, with GREAT performances!!!<br />"
    np.testing.assert_allclose(model.predict_proba([plain]), model.predict_proba([noisy]))


def test_directional_praise_raises_positive_probability(trained) -> None:
    _, model = trained
    base = "the plot was predictable"
    more = base + " but the acting was brilliant and I loved it"
    positive = list(model.classes_).index(1)
    assert model.predict_proba([more])[0, positive] > model.predict_proba([base])[0, positive]


def _reviews(texts: list[str], labels: list[int]) -> tuple[pd.Series, pd.Series]:
    return pd.Series(texts), pd.Series(labels)


def test_a_label_with_one_review_cannot_be_split(params: TrainingParams) -> None:
    texts, labels = _reviews([f"good film {i}" for i in range(10)] + ["bad"], [1] * 10 + [0])
    with pytest.raises(DataError, match="label 0 has only 1 review"):
        split_reviews(texts, labels, params.data)


def test_too_few_reviews_for_the_test_size(params: TrainingParams) -> None:
    texts, labels = _reviews(["good one", "bad one", "good two", "bad two"], [1, 0, 1, 0])
    with pytest.raises(DataError, match=r"cannot split 4 reviews with data\.test_size=0\.2"):
        split_reviews(texts, labels, params.data)


def _split_of(texts: list[str], params: TrainingParams):
    labels = [i % 2 for i in range(len(texts))]
    return split_reviews(*_reviews(texts, labels), params.data)


def test_texts_without_words_are_a_data_error(params: TrainingParams) -> None:
    split = _split_of(["!!", "a ?", "<b>x</b>", "-- .", "1"] * 4, params)
    with pytest.raises(DataError, match="contain no words after cleaning"):
        train_model(split, params)


@pytest.mark.parametrize("min_df", [1000, 0.99])
def test_min_df_that_keeps_no_word_is_a_data_error(params: TrainingParams, min_df) -> None:
    strict = params.model_copy(
        update={"vectorizer": params.vectorizer.model_copy(update={"min_df": min_df})}
    )
    split = _split_of([f"word{i} other{i}" for i in range(40)], strict)
    with pytest.raises(DataError, match=f"vectorizer.min_df={min_df} keeps no words"):
        train_model(split, strict)
