import pickle

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from sentiment_mlops.core.data import load_reviews
from sentiment_mlops.core.text import WordNgrams
from sentiment_mlops.core.vectorizer import NgramTfidfVectorizer
from tests.support.paths import DEMO_DATA
from tests.unit.test_text import ODD_TEXTS

REVIEWS = load_reviews(DEMO_DATA).texts.tolist()
UNSEEN = [
    *ODD_TEXTS,
    "An utterly unseen sentence with zyxwvut qwertyuiop words",
    "good good good bad bad film film film film",  # repeated terms are counted
    "x",  # no token at all
    "the " * 300,  # one long document
]


def _pair(**options) -> tuple[TfidfVectorizer, NgramTfidfVectorizer]:
    """A reference scikit-learn vectorizer and ours, same options, both fitted on the reviews."""
    options.setdefault("analyzer", WordNgrams((1, 2)))
    return (
        TfidfVectorizer(**options).fit(REVIEWS),
        NgramTfidfVectorizer(**options).fit(REVIEWS),
    )


def _assert_same_matrix(expected, actual) -> None:
    assert type(actual) is type(expected)
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    assert actual.has_sorted_indices
    np.testing.assert_array_equal(actual.indptr, expected.indptr)
    np.testing.assert_array_equal(actual.indices, expected.indices)
    np.testing.assert_array_equal(actual.data, expected.data)


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (1, 3), (2, 3), (2, 2)])
def test_transform_equals_scikit_learn(ngram_range) -> None:
    reference, fast = _pair(analyzer=WordNgrams(ngram_range))
    assert fast.vocabulary_ == reference.vocabulary_
    texts = REVIEWS + UNSEEN
    _assert_same_matrix(reference.transform(texts), fast.transform(texts))


@pytest.mark.parametrize(
    "options",
    [
        {"sublinear_tf": True, "max_features": 500, "dtype": np.float32},
        {"binary": True, "min_df": 2},
        {"use_idf": False, "norm": None},
    ],
    ids=["sublinear-float32-500", "binary-min-df", "counts"],
)
def test_transform_equals_scikit_learn_for_weighting_options(options) -> None:
    reference, fast = _pair(**options)
    _assert_same_matrix(reference.transform(UNSEEN), fast.transform(UNSEEN))


def test_small_and_empty_batches() -> None:
    reference, fast = _pair()
    _assert_same_matrix(reference.transform(REVIEWS[:1]), fast.transform(REVIEWS[:1]))
    # One text is counted by the table too: a server's requests come one or a few at a time.
    assert fast.__dict__["_table"].usable
    for texts in ([""], ["x"], ["", "x"], [REVIEWS[0], ""], ["", "x", "!!"], [REVIEWS[0]] * 2):
        _assert_same_matrix(reference.transform(texts), fast.transform(texts))
    for vectorizer in (reference, fast):  # scikit-learn refuses an empty batch; so do we
        with pytest.raises(ValueError, match="0 sample"):
            vectorizer.transform([])


def test_inputs_are_decoded_as_scikit_learn_does() -> None:
    reference, fast = _pair()
    raw = [text.encode() for text in UNSEEN]
    _assert_same_matrix(reference.transform(raw), fast.transform(raw))
    assert "_table" in fast.__dict__
    for vectorizer in (reference, fast):
        with pytest.raises(ValueError, match=r"np\.nan is an invalid document"):
            vectorizer.transform(["good", np.nan, "bad"])


def test_fast_path_is_used_and_rebuilt_after_refit() -> None:
    fast = NgramTfidfVectorizer(analyzer=WordNgrams((1, 2))).fit(REVIEWS[:50])
    fast.transform(REVIEWS[:5])
    first = fast.__dict__["_table"]
    fast.fit(REVIEWS)
    reference = TfidfVectorizer(analyzer=WordNgrams((1, 2))).fit(REVIEWS)
    _assert_same_matrix(reference.transform(UNSEEN), fast.transform(UNSEEN))
    assert fast.__dict__["_table"] is not first


def test_pickle_leaves_out_the_table_and_rebuilds_it() -> None:
    reference, fast = _pair()
    fast.transform(UNSEEN)
    assert "_table" in fast.__dict__
    restored = pickle.loads(pickle.dumps(fast))
    assert "_table" not in restored.__dict__
    _assert_same_matrix(reference.transform(UNSEEN), restored.transform(UNSEEN))


def test_vocabulary_hash_collision_falls_back_to_exact_counting(monkeypatch) -> None:
    import sentiment_mlops.core.vectorizer as vectorizer

    monkeypatch.setattr(
        vectorizer, "_hashes", lambda _strings, count: np.zeros(count, dtype=np.uint64)
    )
    reference, fast = _pair()
    _assert_same_matrix(reference.transform(UNSEEN), fast.transform(UNSEEN))
    assert not fast.__dict__["_table"].usable


def test_other_analyzers_use_scikit_learn_counting() -> None:
    reference = TfidfVectorizer(ngram_range=(1, 2)).fit(REVIEWS)
    fast = NgramTfidfVectorizer(ngram_range=(1, 2)).fit(REVIEWS)
    _assert_same_matrix(reference.transform(UNSEEN), fast.transform(UNSEEN))
    assert "_table" not in fast.__dict__


def test_concurrent_transforms_from_threads_agree() -> None:
    """The API predicts batches in a thread pool: threads share (and may build) one table."""
    from concurrent.futures import ThreadPoolExecutor

    reference, fast = _pair()
    batches = [REVIEWS[i : i + 40] for i in range(0, 320, 40)] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(fast.transform, batches))
    for batch, result in zip(batches, results, strict=True):
        _assert_same_matrix(reference.transform(batch), result)
