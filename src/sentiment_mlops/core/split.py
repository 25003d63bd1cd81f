"""The held-out split every candidate model is scored on."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from sentiment_mlops.core.data import DataError
from sentiment_mlops.core.params import DataParams


@dataclass(frozen=True)
class Split:
    """A held-out split; the test rows are what every candidate model is scored on."""

    train_texts: pd.Series
    test_texts: pd.Series
    train_labels: pd.Series
    test_labels: pd.Series


def split_reviews(texts: pd.Series, labels: pd.Series, params: DataParams) -> Split:
    """A stratified, seeded train/test split (the same seed gives the same rows).

    Data too small to split raises `DataError` (what the user must change), not
    scikit-learn's `ValueError`.
    """
    counts = labels.value_counts()
    if (counts < 2).any():
        label = counts.idxmin()
        raise DataError(
            f"label {label} has only {counts.min()} review; the stratified train/test split "
            "needs at least 2 of each label"
        )
    try:
        train_x, test_x, train_y, test_y = train_test_split(
            texts,
            labels,
            test_size=params.test_size,
            random_state=params.random_state,
            stratify=labels,
        )
    except ValueError as error:  # e.g. fewer test rows than labels
        raise DataError(
            f"cannot split {len(labels)} reviews with data.test_size={params.test_size}: {error}"
        ) from None
    return Split(
        train_texts=train_x.reset_index(drop=True),
        test_texts=test_x.reset_index(drop=True),
        train_labels=train_y.reset_index(drop=True),
        test_labels=test_y.reset_index(drop=True),
    )
