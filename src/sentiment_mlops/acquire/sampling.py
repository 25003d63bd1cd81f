"""Balanced, reproducible samples of labelled reviews."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentiment_mlops.acquire.errors import AcquireError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ClassBalance:
    """How many negative (0) and positive (1) reviews a frame holds."""

    negative: int
    positive: int

    @property
    def total(self) -> int:
        return self.negative + self.positive

    def describe(self) -> str:
        """`1,000 negative (50.0%), 1,000 positive (50.0%)`."""
        if not self.total:
            return "0 rows"
        share = 100 / self.total
        return (
            f"{self.negative:,} negative ({self.negative * share:.1f}%), "
            f"{self.positive:,} positive ({self.positive * share:.1f}%)"
        )


def class_balance(frame: pd.DataFrame) -> ClassBalance:
    """Count the rows of each label in a frame with a 0/1 `label` column."""
    counts = frame["label"].value_counts()
    return ClassBalance(negative=int(counts.get(0, 0)), positive=int(counts.get(1, 0)))


def sample_balanced(frame: pd.DataFrame, samples: int, seed: int) -> pd.DataFrame:
    """Draw up to `samples` rows, half of each label, in a shuffled order fixed by `seed`.

    Duplicate texts are dropped first so that one review cannot land in both the training and
    the test split later. When a class has fewer than `samples // 2` unique rows, every class
    gets as many rows as the smallest one has: the sample stays balanced and shrinks. The
    result depends only on the rows, their order, `samples` and `seed`.
    """
    if samples < 2:
        raise AcquireError(
            f"--samples must be at least 2 (one review of each class), got {samples}"
        )
    unique = frame.drop_duplicates(subset="text", keep="first")
    balance = class_balance(unique)
    if not balance.negative or not balance.positive:
        raise AcquireError(f"the source has only one class ({balance.describe()}); need both")
    per_class = min(samples // 2, balance.negative, balance.positive)
    picked = [
        unique[unique["label"] == label].sample(n=per_class, random_state=seed) for label in (0, 1)
    ]
    import pandas as pd

    combined = pd.concat(picked)
    return combined.sample(frac=1.0, random_state=seed).reset_index(drop=True)
