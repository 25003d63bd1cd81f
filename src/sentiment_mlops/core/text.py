"""Text normalisation shared by training and serving (it is a step of the pipeline itself)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

_HTML_TAG = re.compile(r"<[^>]*>")
# Anything that is not a letter, digit or whitespace (underscore counts as punctuation).
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Lowercase, replace HTML tags (IMDb's `<br />`) and punctuation by spaces, collapse spaces.

    >>> clean_text("<br/>Hello, World!<br/>")
    'hello world'
    """
    text = _HTML_TAG.sub(" ", str(text).lower())
    text = _PUNCTUATION.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def as_text_array(texts: object) -> np.ndarray:
    """Turn any batch of texts into a 1-D array of strings.

    MLflow's pyfunc hands the model a one-column DataFrame; a vectorizer iterating over a
    DataFrame would read its column *names* instead of its rows and predict one constant. This
    step makes the pipeline accept a list, an array, a Series or a one-column DataFrame alike.
    """
    if hasattr(texts, "columns"):  # a DataFrame
        frame = texts
        column = "text" if "text" in frame.columns else frame.columns[0]
        if frame.shape[1] != 1 and "text" not in frame.columns:
            raise ValueError(f"expected one text column, got columns {list(frame.columns)}")
        values = frame[column].to_numpy()
    elif isinstance(texts, str):
        values = np.array([texts], dtype=object)
    elif isinstance(texts, Iterable):
        values = np.asarray(list(texts), dtype=object)
    else:
        raise TypeError(f"expected texts, got {type(texts).__name__}")
    return values.ravel().astype(str)
