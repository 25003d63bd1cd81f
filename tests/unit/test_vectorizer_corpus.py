"""The served vectorizer equals scikit-learn's at the real scale: params.yaml, 100k features.

`NgramTfidfVectorizer` overrides scikit-learn's private `_count_vocab`, so pyproject bounds
scikit-learn below its next minor release; this is the test to run before raising that bound.
The demo reviews give a few thousand features; this generated corpus fills the vocabulary that
params.yaml allows, with Zipf-distributed words (ties in counts at the `max_features` cut),
HTML tags, punctuation, case, underscores, digits and non-ASCII letters.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from sentiment_mlops.core.model import build_pipeline
from sentiment_mlops.core.params import load_params
from sentiment_mlops.core.text import clean_text
from tests.support.paths import PARAMS_FILE
from tests.unit.test_vectorizer import _assert_same_matrix

LETTERS = [*"abcdefghijklmnopqrstuvwxyzéèàçñöüßøœ", "ж", "ы", "λ", "日", "本"]
DECORATIONS = ["", "", "", "", ",", ".", "!", "'s", "<br />", "_x", "😀", "?!", ")", "-"]


def _words(rng: np.random.Generator, count: int) -> list[str]:
    lengths = rng.integers(1, 10, size=count)  # one-letter words are dropped by the analyzer
    letters = np.array(LETTERS)
    words = ["".join(rng.choice(letters, size=length).tolist()) for length in lengths]
    words[: count // 20] = [str(number) for number in rng.integers(0, 3000, count // 20)]
    return [
        w.upper() if i % 17 == 0 else w.capitalize() if i % 7 == 0 else w
        for i, w in enumerate(words)
    ]


def _reviews(rng: np.random.Generator, words: list[str], count: int) -> list[str]:
    """Reviews of 20-200 words drawn with Zipf frequencies, some with decorations attached."""
    ranks = np.arange(1, len(words) + 1)
    weights = 1.0 / ranks**1.05
    frequencies = weights / weights.sum()
    decoration_array = np.array(DECORATIONS)
    reviews = []
    # Python ints and strs (`tolist`) are joined several times faster than numpy scalars; the
    # draws are the same as before, so is every review.
    for length in rng.integers(20, 200, size=count):
        chosen = rng.choice(len(words), size=length, p=frequencies).tolist()
        decorations = rng.choice(decoration_array, size=length).tolist()
        reviews.append(" ".join([words[i] + d for i, d in zip(chosen, decorations, strict=True)]))
    return reviews


@pytest.mark.slow
def test_fast_transform_equals_scikit_learn_with_the_real_params() -> None:
    params = load_params(PARAMS_FILE)
    settings = params.vectorizer
    rng = np.random.default_rng(20240611)
    words = _words(rng, 6000)
    training = _reviews(rng, words, 12000)
    # Unseen texts also use words outside the vocabulary and long runs of one word.
    unseen = [*_reviews(rng, words + _words(rng, 500), 3000), "film " * 500, "", "a b c"]

    fast = build_pipeline(params).named_steps["tfidf"].fit(training)
    reference = TfidfVectorizer(
        preprocessor=clean_text,  # scikit-learn's own analyzer, not ours
        ngram_range=tuple(settings.ngram_range),
        max_features=settings.max_features,
        min_df=settings.min_df,
        sublinear_tf=settings.sublinear_tf,
        dtype=np.float32,
    ).fit(training)

    assert len(fast.vocabulary_) == settings.max_features == 100_000
    assert fast.vocabulary_ == reference.vocabulary_
    # Texts one and two at a time, as a server scores them: the table counts those too.
    _assert_same_matrix(reference.transform(unseen[:1]), fast.transform(unseen[:1]))
    assert fast.__dict__["_table"].usable
    for first in range(0, 400, 2):
        for texts in (unseen[first : first + 1], unseen[first : first + 2]):
            _assert_same_matrix(reference.transform(texts), fast.transform(texts))
    for texts in (unseen, training[:3000]):
        _assert_same_matrix(reference.transform(texts), fast.transform(texts))
    assert fast.__dict__["_table"].usable  # the vectorised path did the counting
