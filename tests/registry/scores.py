"""What the logged model's pyfunc flavour must answer: scikit-learn's own label and the
probability of that label, per text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from sentiment_mlops.core.labels import LABEL_NAMES


def expected_scores(model: Any, texts: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of `sentiment` (the pipeline's `predict`) and `confidence` (its top probability)."""
    labels = model.predict(list(texts)).tolist()
    top = model.predict_proba(list(texts)).max(axis=1).tolist()
    return [
        {"sentiment": LABEL_NAMES[int(label)], "confidence": p}
        for label, p in zip(labels, top, strict=True)
    ]


def assert_scores(answer: pd.DataFrame | list[dict[str, Any]], expected: list[dict]) -> None:
    """The pyfunc's answer (a frame or JSON records) has exactly the two columns, with the
    expected labels and the probabilities to 1e-9."""
    frame = pd.DataFrame(answer)
    assert list(frame.columns) == ["sentiment", "confidence"]
    wanted = pd.DataFrame(expected)
    assert frame["sentiment"].tolist() == wanted["sentiment"].tolist()
    assert (frame["confidence"] - wanted["confidence"]).abs().max() <= 1e-9
    assert wanted["sentiment"].nunique() == 2  # texts of both labels were scored
