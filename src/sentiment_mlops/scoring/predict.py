"""The one prediction step both engines run on a batch of texts.

It is the API's step (`serving.served_model`): one vectorised `predict_proba` call and the label
rule of `core.labels`, so a text gets the same label and confidence here as from
`/predict/batch` with the same model version. A missing text (null, empty or whitespace only,
which the API refuses) is not guessed at: its row gets a null sentiment and confidence, and is
counted. Refusing the whole file for one empty review would make archives unscorable; a null
output is visible and countable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentiment_mlops.core.labels import LABEL_NAMES, labels_from_proba


@dataclass(frozen=True)
class Scorer:
    """A loaded version and how to apply it: what either engine needs to score a file."""

    model: Any
    version: str  # written to every row
    text_column: str
    batch_size: int


@dataclass(frozen=True)
class BatchScores:
    """One batch's results, row for row; `None` / NaN where the text was null."""

    sentiment: np.ndarray  # object: "negative" / "positive" / None
    confidence: np.ndarray  # float64, NaN where null
    valid: np.ndarray  # bool: the row had a text

    @property
    def null_texts(self) -> int:
        return int(len(self.valid) - self.valid.sum())


def score_texts(model: Any, texts: Sequence[Any]) -> BatchScores:
    """Label and confidence of each text; a row without a text stays unscored."""
    import sklearn

    valid = np.fromiter((_has_text(text) for text in texts), dtype=bool, count=len(texts))
    sentiment = np.full(len(texts), None, dtype=object)
    confidence = np.full(len(texts), np.nan)
    if valid.any():
        scored = [text for text, ok in zip(texts, valid, strict=True) if ok]
        # The texts are strings: skip scikit-learn's input checks, as the API does.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            proba = model.predict_proba(scored)
        winners, confidence[valid] = labels_from_proba(proba, model.classes_)
        sentiment[valid] = [LABEL_NAMES[winner] for winner in winners.tolist()]
    return BatchScores(sentiment, confidence, valid)


def _has_text(value: Any) -> bool:
    # As the API's NOT_BLANK: something other than whitespace.
    return isinstance(value, str) and bool(value) and not value.isspace()
