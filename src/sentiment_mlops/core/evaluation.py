"""Scoring a classifier on held-out rows, and the plots that go with the scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from sentiment_mlops.core.labels import NEGATIVE, POSITIVE, labels_from_proba
from sentiment_mlops.core.metrics import Metrics

__all__ = ["Evaluation", "Metrics", "evaluate"]


@dataclass(frozen=True)
class Evaluation:
    """Metrics plus the raw predictions they came from (for plots and DVC)."""

    metrics: Metrics
    labels: np.ndarray
    predicted: np.ndarray
    positive_probability: np.ndarray

    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.labels, self.predicted, labels=[NEGATIVE, POSITIVE])

    def roc_points(self) -> pd.DataFrame:
        fpr, tpr, _ = roc_curve(self.labels, self.positive_probability)
        return pd.DataFrame({"fpr": fpr, "tpr": tpr})


def evaluate(model: Any, texts: pd.Series, labels: pd.Series) -> Evaluation:
    """Score a fitted classifier with one `predict_proba` call over the rows."""
    probabilities = model.predict_proba(texts)
    positive = probabilities[:, list(model.classes_).index(POSITIVE)]
    predicted, _ = labels_from_proba(probabilities, model.classes_)
    truth = np.asarray(labels, dtype=int)
    metrics = Metrics(
        accuracy=float(accuracy_score(truth, predicted)),
        f1=float(f1_score(truth, predicted, zero_division=0)),
        precision=float(precision_score(truth, predicted, zero_division=0)),
        recall=float(recall_score(truth, predicted, zero_division=0)),
        roc_auc=float(roc_auc_score(truth, positive)),
        log_loss=float(log_loss(truth, positive, labels=[NEGATIVE, POSITIVE])),
    )
    return Evaluation(
        metrics=metrics, labels=truth, predicted=predicted, positive_probability=positive
    )
