import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from sentiment_mlops.core.data import load_reviews
from sentiment_mlops.core.text import WordNgrams, as_text_array, clean_text
from tests.conftest import DEMO_DATA


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HELLO World", "hello world"),
        ("<br/>Hello<br/>", "hello"),
        ("Hello, World!", "hello world"),
        ("Great<br /><br />movie", "great movie"),
        ("  lots   of\tspace\n", "lots of space"),
        ("It's 10/10!!!", "it s 10 10"),
        ("snake_case_word", "snake case word"),
        ("Amélie était géniale", "amélie était géniale"),
        ("", ""),
        ("!!!", ""),
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    "batch",
    [
        ["good film", "bad film"],
        np.array(["good film", "bad film"]),
        pd.Series(["good film", "bad film"]),
        pd.DataFrame({"text": ["good film", "bad film"]}),
        pd.DataFrame({0: ["good film", "bad film"]}),
        pd.DataFrame({"text": ["good film", "bad film"], "other": [1, 2]}),
    ],
    ids=["list", "array", "series", "named-frame", "unnamed-frame", "frame-with-extra"],
)
def test_as_text_array_reads_rows_not_column_names(batch: object) -> None:
    assert as_text_array(batch).tolist() == ["good film", "bad film"]


def test_as_text_array_single_string_is_one_text() -> None:
    assert as_text_array("one review").tolist() == ["one review"]


def test_as_text_array_refuses_ambiguous_frames() -> None:
    with pytest.raises(ValueError, match="one text column"):
        as_text_array(pd.DataFrame({"a": ["x"], "b": ["y"]}))


ODD_TEXTS = [
    "snake_case_word and __dunder__ names",
    "It's 10/10!!! A+ <b>bold</b> move<br /><br />Next",
    "Amélie était géniale, naïve — ŒUVRE d'art",
    "a b c single letters x y",
    "tabs\tand\nnewlines   and    spaces",
    "emoji 😀 between👍words and ½ fractions ²",
    "",
    "<<not a tag>> > < <a href='x'>link</a>",
    "numbers 1984 and 2001: a space odyssey",
]


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (1, 3), (2, 3)])
def test_word_ngrams_equal_sklearn_analyzer_over_clean_text(ngram_range) -> None:
    reference = TfidfVectorizer(preprocessor=clean_text, ngram_range=ngram_range).build_analyzer()
    fast = WordNgrams(ngram_range)
    texts = ODD_TEXTS + load_reviews(DEMO_DATA).texts.tolist()
    for text in texts:
        assert fast(text) == reference(text), text
