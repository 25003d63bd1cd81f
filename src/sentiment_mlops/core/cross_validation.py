"""Stratified k-fold cross-validation of one parameter set, fold by fold.

Tuning must never see the test split, so it scores candidates on folds of the training split
only. The scores come one fold at a time, so a search can stop a hopeless candidate after its
first folds (pruning) instead of paying for all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold

from sentiment_mlops.core.evaluation import evaluate
from sentiment_mlops.core.model import build_pipeline
from sentiment_mlops.core.params import TrainingParams


@dataclass(frozen=True)
class FoldScore:
    """The held-out scores of one fold."""

    accuracy: float
    roc_auc: float


@dataclass(frozen=True)
class CVSummary:
    """Mean and spread (population standard deviation) of fold scores."""

    accuracy_mean: float
    accuracy_std: float
    roc_auc_mean: float
    roc_auc_std: float
    folds: int

    @classmethod
    def of(cls, scores: list[FoldScore]) -> CVSummary:
        accuracy = np.array([s.accuracy for s in scores])
        roc_auc = np.array([s.roc_auc for s in scores])
        return cls(
            float(accuracy.mean()),
            float(accuracy.std()),
            float(roc_auc.mean()),
            float(roc_auc.std()),
            len(scores),
        )

    def as_metrics(self) -> dict[str, float]:
        """`cv_<metric>_<mean|std>` as MLflow logs them."""
        return {
            "cv_accuracy_mean": self.accuracy_mean,
            "cv_accuracy_std": self.accuracy_std,
            "cv_roc_auc_mean": self.roc_auc_mean,
            "cv_roc_auc_std": self.roc_auc_std,
        }


def fold_scores(
    texts: pd.Series,
    labels: pd.Series,
    params: TrainingParams,
    *,
    folds: int,
    repeats: int,
    seed: int,
) -> Iterator[FoldScore]:
    """Fit `params`' pipeline on each training part and score it on the held-out fold.

    The folds depend only on the rows and `seed`, so every candidate of a search is scored on
    the same folds. With `repeats` > 1 the k folds are drawn again with other shuffles: the
    spread then tells a stable setting from one that won a lucky split.
    """
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    texts, labels = texts.reset_index(drop=True), labels.reset_index(drop=True)
    for train_rows, held_out in splitter.split(texts, labels):
        model = build_pipeline(params).fit(texts.iloc[train_rows], labels.iloc[train_rows])
        metrics = evaluate(model, texts.iloc[held_out], labels.iloc[held_out]).metrics
        yield FoldScore(metrics.accuracy, metrics.roc_auc)
