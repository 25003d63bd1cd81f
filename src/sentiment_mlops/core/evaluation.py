"""Scoring a classifier on held-out rows, and the plots that go with the scores."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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


@dataclass(frozen=True)
class Metrics:
    """Scores of one model on one set of rows (higher is better except `log_loss`)."""

    accuracy: float
    f1: float
    precision: float
    recall: float
    roc_auc: float
    log_loss: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def score(self, metric: str) -> float:
        """The value of a named metric, for promotion decisions."""
        return float(getattr(self, metric))


@dataclass(frozen=True)
class Evaluation:
    """Metrics plus the raw predictions they came from (for plots and DVC)."""

    metrics: Metrics
    labels: np.ndarray
    predicted: np.ndarray
    positive_probability: np.ndarray

    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.labels, self.predicted, labels=[0, 1])

    def roc_points(self) -> pd.DataFrame:
        fpr, tpr, _ = roc_curve(self.labels, self.positive_probability)
        return pd.DataFrame({"fpr": fpr, "tpr": tpr})


def evaluate(model: Any, texts: pd.Series, labels: pd.Series) -> Evaluation:
    """Score a fitted classifier with one `predict_proba` call over the rows."""
    probabilities = model.predict_proba(texts)
    positive_column = list(model.classes_).index(1)
    positive = probabilities[:, positive_column]
    predicted = (positive >= 0.5).astype(int)
    truth = np.asarray(labels, dtype=int)
    metrics = Metrics(
        accuracy=float(accuracy_score(truth, predicted)),
        f1=float(f1_score(truth, predicted, zero_division=0)),
        precision=float(precision_score(truth, predicted, zero_division=0)),
        recall=float(recall_score(truth, predicted, zero_division=0)),
        roc_auc=float(roc_auc_score(truth, positive)),
        log_loss=float(log_loss(truth, positive, labels=[0, 1])),
    )
    return Evaluation(
        metrics=metrics, labels=truth, predicted=predicted, positive_probability=positive
    )
