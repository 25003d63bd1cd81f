"""Text normalisation shared by training and serving (it is a step of the pipeline itself)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import pairwise
from typing import Any, Protocol, TypeGuard

import numpy as np

# A tag is `<`, no `<` or `>`, then `>`. Excluding `<` keeps cleaning linear in the text: with
# `<[^>]*>` each `<` of a long run of them scanned to the end of the text (quadratic). A stray
# `<` before a tag (`<3 <br />`) now stays text instead of swallowing the words up to the tag.
_HTML_TAG = re.compile(r"<[^<>]*>")
# Anything that is not a letter, digit or whitespace (underscore counts as punctuation).
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")
# For ASCII text, one `bytes.translate` does `lower` and the token pattern's work: A-Z become
# a-z, a-z and 0-9 stay, every other byte (punctuation, `_`, whitespace, controls) a space.
_ASCII_WORDS = bytes(
    byte + 32 if 65 <= byte <= 90 else byte if 97 <= byte <= 122 or 48 <= byte <= 57 else 32
    for byte in range(256)
)


def clean_text(text: str) -> str:
    """Lowercase, replace HTML tags (IMDb's `<br />`) and punctuation by spaces, collapse spaces.

    >>> clean_text("<br/>Hello, World!<br/>")
    'hello world'
    """
    text = _HTML_TAG.sub(" ", str(text).lower())
    text = _PUNCTUATION.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


class WordNgrams:
    """The pipeline's analyzer: `clean_text`, tokens of two or more characters, word n-grams.

    The features are exactly those of `TfidfVectorizer(preprocessor=clean_text)` with its
    default token pattern (a test checks this), computed in one pass: after `clean_text` only
    letters, digits and single spaces remain, so its tokens are the runs of two or more word
    characters other than `_` in the lowercased, tag-stripped text. Half the cost of
    scikit-learn's analyzer, which is most of the cost of a prediction.
    """

    _TOKEN = re.compile(r"[^\W_]{2,}")

    def __init__(self, ngram_range: tuple[int, int] = (1, 1)) -> None:
        self.ngram_range = tuple(ngram_range)

    def tokens(self, text: str) -> list[str]:
        """The words of `text` after `clean_text`, in order (single characters dropped).

        ASCII text (nine reviews in ten) takes a path of C passes at half the regex's cost:
        the tag pattern matches the same spans whatever the case, so tags can go before
        lowercasing; in ASCII, `[^\\W_]` is [A-Za-z0-9], so the tokens are the runs of those
        that `_ASCII_WORDS` leaves (lowercased by the same table).
        """
        text = str(text)
        if not text.isascii():
            return self._TOKEN.findall(_HTML_TAG.sub(" ", text.lower()))
        if "<" in text:
            text = _HTML_TAG.sub(" ", text)
        words = text.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split()
        return [word for word in words if len(word) > 1]

    def __call__(self, text: str) -> list[str]:
        tokens = self.tokens(text)
        low, high = self.ngram_range
        features = list(tokens) if low == 1 else []
        for n in range(max(low, 2), high + 1):
            if n == 2:
                features += [f"{a} {b}" for a, b in pairwise(tokens)]
            else:
                features += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        return features


class _Frame(Protocol):
    """What `as_text_array` reads of a pandas DataFrame (core/ duck-types it, without pandas)."""

    @property
    def columns(self) -> Any: ...
    @property
    def shape(self) -> tuple[int, ...]: ...
    def __getitem__(self, column: Any) -> Any: ...


def _is_frame(texts: object) -> TypeGuard[_Frame]:
    # A plain attribute check, not a runtime-checkable Protocol: this runs on every prediction.
    return hasattr(texts, "columns")


def as_text_array(texts: object) -> np.ndarray:
    """Turn any batch of texts into a 1-D array of strings.

    MLflow's pyfunc hands the model a one-column DataFrame; a vectorizer iterating over a
    DataFrame would read its column *names* instead of its rows and predict one constant. This
    step makes the pipeline accept a list, an array, a Series or a one-column DataFrame alike.
    """
    return text_values(texts).astype(str)


def text_values(texts: object) -> np.ndarray:
    """The values of any batch of texts as a 1-D object array, as given (None stays None)."""
    if _is_frame(texts):  # a DataFrame
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
    return values.ravel()
