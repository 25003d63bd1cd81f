"""One rule turns probabilities into labels: evaluation, serving, the CLI and scikit-learn's own
`predict` (MLflow's pyfunc) agree, on real texts and on an exact tie."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from sentiment_mlops.cli.reporting import print_predictions
from sentiment_mlops.core.data import load_reviews
from sentiment_mlops.core.evaluation import evaluate
from sentiment_mlops.core.labels import LABEL_NAMES, labels_from_proba
from sentiment_mlops.core.model import train_model
from sentiment_mlops.core.params import load_params
from sentiment_mlops.core.split import split_reviews
from sentiment_mlops.registry import ModelRef
from sentiment_mlops.serving.served_model import ServedModel, labels_of
from tests.support.paths import DEMO_DATA, PARAMS_FILE


@pytest.fixture(scope="module")
def trained():
    params = load_params(PARAMS_FILE)
    reviews = load_reviews(DEMO_DATA)
    split = split_reviews(reviews.texts, reviews.labels, params.data)
    return split, train_model(split, params)


@pytest.fixture(scope="module")
def undecided(trained):
    """The trained pipeline with a classifier that has learnt nothing: p = 0.5 for every text."""
    import copy

    _, model = trained
    model = copy.deepcopy(model)
    classifier = model.named_steps["clf"]
    classifier.coef_ = np.zeros_like(classifier.coef_)
    classifier.intercept_ = np.zeros_like(classifier.intercept_)
    return model


def _served(model) -> ServedModel:
    ref = ModelRef(name="m", version="1", run_id=None)
    return ServedModel(model, ref, labels_of(model), {}, datetime.now(UTC))


def _cli_labels(model, texts: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    print_predictions(texts, model, ModelRef(name="m", version="1", run_id=None))
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    return [row[1] for row in rows if len(row) > 2 and row[1] in LABEL_NAMES.values()]


def _everyone(model, texts: list[str], capsys) -> dict[str, list[str]]:
    truth = pd.Series([i % 2 for i in range(len(texts))])  # only the predictions matter here
    evaluation = evaluate(model, pd.Series(texts), truth)
    return {
        "evaluation": [LABEL_NAMES[int(c)] for c in evaluation.predicted],
        "serving": [r["sentiment"] for r in _served(model).predict(texts)],
        "cli": _cli_labels(model, texts, capsys),
        "pyfunc": [LABEL_NAMES[int(c)] for c in model.predict(texts)],
    }


def test_a_tie_is_negative_everywhere(undecided, capsys) -> None:
    texts = ["A wonderful film.", "A dull film.", "Fine."]
    assert np.all(undecided.predict_proba(texts) == 0.5)
    labels = _everyone(undecided, texts, capsys)
    assert labels == {where: ["negative"] * 3 for where in labels}, labels


def test_evaluation_serving_cli_and_pyfunc_agree(trained, capsys) -> None:
    split, model = trained
    texts = [text[:60].replace("\n", " ") for text in split.test_texts[:20]]
    labels = _everyone(model, texts, capsys)
    assert len(set(labels["evaluation"])) == 2  # both classes occur: the check means something
    assert labels["serving"] == labels["evaluation"]
    assert labels["cli"] == labels["evaluation"]
    assert labels["pyfunc"] == labels["evaluation"]


@pytest.mark.parametrize("columns", [(0, 1), (1, 0)])
def test_the_rule_does_not_depend_on_column_order(columns: tuple[int, int]) -> None:
    by_class = np.array([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1]])  # p(negative), p(positive)
    proba = by_class[:, list(columns)]
    winners, confidence = labels_from_proba(proba, columns)
    assert winners.tolist() == [0, 1, 0]
    assert confidence.tolist() == [0.5, 0.8, 0.9]
