"""The vocabulary table's keys, built for all terms at once, are the keys `count` forms."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from sentiment_mlops.core.text import WordNgrams
from sentiment_mlops.core.vectorizer import (
    _combine,
    _hash_table,
    _hashes,
    _index_lookup,
    _term_keys,
    _VocabularyTable,
)


def _key_of(term: str) -> np.uint64:
    tokens = term.split(" ")
    hashes = _hashes(tokens, len(tokens))
    key = hashes[:1]
    for position in range(1, len(tokens)):
        key = _combine(key, hashes[position : position + 1])
    return key[0]


@pytest.mark.parametrize(
    "terms",
    [
        ["film"],
        ["good film", "film", "not a good film", "bad"],
        ["a b c d e", "é 好看", "x"],
        [f"w{i} w{i + 1}" for i in range(1000)] + [f"w{i}" for i in range(1000)],
    ],
)
def test_term_keys_are_the_keys_of_each_term_alone(terms: list[str]) -> None:
    assert _term_keys(terms).tolist() == [int(_key_of(term)) for term in terms]


def test_building_the_table_leaves_the_collector_as_it_was() -> None:
    vocabulary = {"good": 0, "good film": 1}
    _VocabularyTable.build(vocabulary, WordNgrams((1, 2)), np.float32)
    assert gc.isenabled()


@pytest.mark.parametrize("keys", [[5, 7, 2**64 - 1, 0], [5, 7, 5, 9], []])
def test_the_hash_table_finds_what_a_pandas_index_finds(keys: list[int]) -> None:
    """pandas' private hash table, and the Index that stands in for it, agree."""
    stored = np.array(keys, dtype=np.uint64)
    queries = np.array([0, 5, 9, 2**64 - 1, 3, 7], dtype=np.uint64)
    lookup, distinct = _hash_table(stored)
    index_lookup, index_distinct = _index_lookup(stored)
    assert distinct == index_distinct == (len(set(keys)) == len(keys))
    if distinct:
        assert lookup(queries).tolist() == index_lookup(queries).tolist()
