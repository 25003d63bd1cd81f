"""A review's sentiment and confidence: what the pipeline answers for a batch of texts.

One vectorised `predict_proba` call and the label rule of `core.labels`, as the API does
(`serving.served_model`), so a text gets the same label and confidence from the batch scoring
engines, from the model's pyfunc flavour and from `/predict/batch`. A missing text (null, empty
or whitespace only, which the API refuses) is not guessed at: its row gets a null sentiment and
confidence, and is counted.

`ScoredTexts` is the logged model's pyfunc flavour: MLflow imports this module from the model's
`code/` folder as the flavour's `loader_module` and calls `_load_pyfunc` with the pickled
pipeline's path, so `mlflow.pyfunc.load_model` and `mlflow.pyfunc.spark_udf` answer both columns
of `SCORE_COLUMNS` (nothing here imports MLflow: the protocol is two names).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sentiment_mlops.core.labels import LABEL_NAMES, labels_from_proba
from sentiment_mlops.core.text import text_values

# The pyfunc's output columns, in order, and their types.
SCORE_COLUMNS = {"sentiment": "string", "confidence": "double"}


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
    valid = np.fromiter((has_text(text) for text in texts), dtype=bool, count=len(texts))
    sentiment = np.full(len(texts), None, dtype=object)
    confidence = np.full(len(texts), np.nan)
    if valid.any():
        scored = [text for text, ok in zip(texts, valid, strict=True) if ok]
        import sklearn  # here: the registry commands import this module, not the model

        # The texts are strings: skip scikit-learn's input checks, as the API does.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            proba = model.predict_proba(scored)
        winners, confidence[valid] = labels_from_proba(proba, model.classes_)
        sentiment[valid] = [LABEL_NAMES[winner] for winner in winners.tolist()]
    return BatchScores(sentiment, confidence, valid)


def has_text(value: Any) -> bool:
    """Something other than whitespace, as the API's NOT_BLANK."""
    return isinstance(value, str) and bool(value) and not value.isspace()


class ScoredTexts:
    """The pipeline behind MLflow's pyfunc interface: texts in, one row of
    `SCORE_COLUMNS` out per text (null for a missing text)."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:  # noqa: ARG002
        """`data`: a list, Series or array of texts, or a frame whose `text` (or only) column
        holds them. No `params` are taken; MLflow passes them by name."""
        scores = score_texts(self.pipeline, text_values(data).tolist())
        return pd.DataFrame({"sentiment": scores.sentiment, "confidence": scores.confidence})

    def get_raw_model(self) -> Any:
        """The scikit-learn pipeline, as MLflow's own flavours offer it."""
        return self.pipeline


def _load_pyfunc(path: str) -> ScoredTexts:
    """MLflow's loader protocol: `path` is the pickled pipeline the sklearn flavour wrote."""
    with Path(path).open("rb") as file:
        # cloudpickle's files are pickles; the model comes from our own registry.
        return ScoredTexts(pickle.load(file))
