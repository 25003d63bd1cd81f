"""Balanced, deterministic sampling."""

from __future__ import annotations

import pandas as pd
import pytest

from sentiment_mlops.acquire import AcquireError
from sentiment_mlops.acquire.sampling import class_balance, sample_balanced


def _frame(negative: int, positive: int) -> pd.DataFrame:
    rows = [(f"neg {i}", 0) for i in range(negative)] + [(f"pos {i}", 1) for i in range(positive)]
    return pd.DataFrame(rows, columns=["text", "label"])


@pytest.mark.parametrize(
    ("negative", "positive", "samples", "per_class"),
    [
        (100, 100, 50, 25),
        (300, 60, 100, 50),  # imbalanced source, balanced sample
        (300, 20, 100, 20),  # the smaller class limits the sample
        (10, 10, 7, 3),  # odd sizes round down to a balanced sample
        (10, 10, 1000, 10),
    ],
)
def test_sample_is_balanced(negative: int, positive: int, samples: int, per_class: int) -> None:
    sample = sample_balanced(_frame(negative, positive), samples, seed=42)

    assert class_balance(sample).negative == per_class
    assert class_balance(sample).positive == per_class


def test_same_seed_same_sample_other_seed_other_sample() -> None:
    frame = _frame(500, 500)

    first = sample_balanced(frame, 100, seed=42)
    again = sample_balanced(frame, 100, seed=42)
    other = sample_balanced(frame, 100, seed=7)

    pd.testing.assert_frame_equal(first, again)
    assert set(first["text"]) != set(other["text"])


def test_sample_is_shuffled_not_grouped_by_label() -> None:
    sample = sample_balanced(_frame(500, 500), 200, seed=42)

    # Grouped output would have exactly one change of label.
    assert (sample["label"].diff().fillna(0) != 0).sum() > 10


def test_duplicate_texts_are_sampled_once() -> None:
    frame = pd.concat([_frame(20, 20)] * 3, ignore_index=True)

    sample = sample_balanced(frame, 1000, seed=1)

    assert sample["text"].is_unique
    assert len(sample) == 40


def test_sample_rows_come_from_the_source_with_their_labels() -> None:
    frame = _frame(50, 50)
    sample = sample_balanced(frame, 40, seed=3)

    merged = sample.merge(frame, on="text", suffixes=("", "_source"))
    assert (merged["label"] == merged["label_source"]).all()
    assert len(merged) == 40


def test_one_class_only_is_an_error() -> None:
    with pytest.raises(AcquireError, match="only one class"):
        sample_balanced(_frame(0, 30), 10, seed=42)


def test_fewer_than_two_samples_is_an_error() -> None:
    with pytest.raises(AcquireError, match="at least 2"):
        sample_balanced(_frame(5, 5), 1, seed=42)


def test_balance_description() -> None:
    assert class_balance(_frame(3, 1)).describe() == "3 negative (75.0%), 1 positive (25.0%)"
