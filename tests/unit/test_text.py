import time

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from sentiment_mlops.core.data import load_reviews
from sentiment_mlops.core.text import WordNgrams, as_text_array, clean_text
from tests.support.paths import DEMO_DATA


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
        ('Go <a href="x">here</a> now', "go here now"),
        ("<i>Fine</i> <br /> film", "fine film"),
        # A stray `<` before a tag is text, not the start of a tag that eats the words.
        ("I <3 this film<br />really", "i 3 this film really"),
        ("a<b<c>d", "a b d"),
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


# Texts a client can send in one request (up to 20,000 characters each) that a backtracking
# regular expression could turn into quadratic work.
ADVERSARIAL = {
    "run of <": lambda n: "<" * n,
    "run of &": lambda n: "&" * n,
    "run of punctuation": lambda n: "!?.," * (n // 4),
    "one long word": lambda n: "a" * n,
    "< then letters": lambda n: "<" + "a" * n,
    "<a repeated": lambda n: "<a" * (n // 2),
    "< and spaces": lambda n: "< " * (n // 2),
    "unclosed tags": lambda n: "<b x=1 " * (n // 7),
}


def _cost(function, text: str) -> float:
    """The least CPU time of several runs: load on the machine only ever adds to it."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(3):
            function(text)
        best = min(best, time.process_time() - start)
    return best


@pytest.mark.parametrize("make", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
@pytest.mark.parametrize(
    "function", [clean_text, WordNgrams((1, 2)).tokens], ids=["clean_text", "tokens"]
)
def test_cleaning_is_linear_in_the_text(function, make) -> None:
    # 4x the text costs about 4x when linear, 16x when quadratic; 10x leaves room for noise.
    # The texts are long enough (5,000 and 20,000) that a quadratic cost is measured in ms.
    small, large = _cost(function, make(5_000)), _cost(function, make(20_000))
    assert large < 10 * max(small, 1e-4), (small, large)


def test_ascii_tokens_equal_sklearn_analyzer_on_random_text() -> None:
    """ASCII text takes its own tokenising path: every ASCII character, tags and stray `<`,
    `_`, controls and digits among them, splits and joins words as scikit-learn's does."""
    reference = TfidfVectorizer(preprocessor=clean_text).build_analyzer()
    fast = WordNgrams((1, 1))
    rng = np.random.default_rng(15)
    alphabet = np.array([chr(code) for code in range(128)] + ["<br />", "<", ">", "Ab", "z9"])
    for _ in range(3000):
        text = "".join(rng.choice(alphabet, size=int(rng.integers(0, 40))))
        assert fast.tokens(text) == reference(text), repr(text)
