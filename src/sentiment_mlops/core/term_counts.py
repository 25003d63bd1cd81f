"""Word n-gram counting with numpy only: the keys of n-grams, and the counts of known ones.

Shared by `core.vectorizer` (the fitted TF-IDF's fast transform, which looks keys up in pandas'
hash table) and `core.compact_scorer` (the serving artifact, which looks them up by binary
search without pandas): one implementation of tokenising, keying and counting.

An n-gram's key combines its tokens' hashes (`hash`, Python's keyed 64-bit SipHash, in C) with
numpy, without building its string. The hashes change with each process's seed, so keys are
only ever compared with keys made in the same process: a vocabulary's keys are rebuilt from its
terms in every process (`term_keys`), never stored. An unseen n-gram is counted as a vocabulary
term only if their 64-bit keyed hashes collide: 100,000 terms / 2**64, about 5e-15 per n-gram,
so one extra count in about 600 billion reviews of 300 n-grams. Two vocabulary terms whose keys
collide cannot be told apart: the users of these keys then count another way (scikit-learn's
exact path) or not at all (`compact_scorer` refuses to load).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from sentiment_mlops.core.text import WordNgrams

# An odd 64-bit constant (the golden ratio's): the n-gram key is a polynomial in it.
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
# Separates terms when they are split all at once; a term never contains it (`term_keys`).
_MARKER = "\x00"

Hasher = Callable[[Iterable[str], int], np.ndarray]
Lookup = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TermCounts:
    """A document-term count matrix as its CSR arrays, each row's columns sorted and distinct:
    what `transform` returns, without a scipy matrix around it. scikit-learn's
    `inplace_csr_row_normalize_l2` reads exactly these four attributes."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def of(cls, matrix: Any) -> TermCounts:
        return cls(matrix.data, matrix.indices, matrix.indptr, matrix.shape)


def hash_strings(strings: Iterable[str], count: int) -> np.ndarray:
    """Each string's `hash` (this process's), as uint64."""
    return np.fromiter(map(hash, strings), dtype=np.int64, count=count).view(np.uint64)


def combine(prefix: np.ndarray, following: np.ndarray) -> np.ndarray:
    """The key of an n-gram from its first n-1 tokens' key and its last token's hash."""
    # Arithmetic modulo 2**64 is the point: numpy's array arithmetic wraps around silently
    # (only its scalar arithmetic warns), without `np.errstate`'s cost on every call.
    return (prefix * _MULTIPLIER) ^ following


def term_keys(terms: list[str], hashes: Hasher = hash_strings) -> np.ndarray:
    """The key of each term (`combine` over its tokens' hashes), as `NgramCounter` forms them.

    The terms are split in one call, with a marker token between them that no term contains
    (terms are runs of word characters joined by single spaces); the markers' positions give
    each term's first token and length without a Python call per term.
    """
    return _keys_of_pieces(f" {_MARKER} ".join(terms).split(" "), hashes)


def joined_term_keys(joined: str, separator: str) -> np.ndarray:
    """`term_keys` of the terms in `joined`, separated by `separator` (a character no term
    contains), without a list of the terms: a compact file's terms as they are stored."""
    return _keys_of_pieces(joined.replace(separator, f" {_MARKER} ").split(" "), hash_strings)


def _keys_of_pieces(pieces: list[str], hashes: Hasher) -> np.ndarray:
    """The keys of the terms whose tokens are `pieces`, the terms separated by `_MARKER`."""
    hashed = hashes(pieces, len(pieces))
    markers = np.flatnonzero(hashed == np.int64(hash(_MARKER)).view(np.uint64))
    if len(markers) != pieces.count(_MARKER):  # a token hashed as the marker: compare strings
        markers = np.array([i for i, piece in enumerate(pieces) if piece == _MARKER], np.int64)
    ends = np.append(markers, len(pieces))
    starts = np.append(0, ends[:-1] + 1)
    lengths = ends - starts
    keys = hashed[starts]
    for offset in range(1, int(lengths.max(initial=1))):
        longer = lengths > offset
        keys[longer] = combine(keys[longer], hashed[starts[longer] + offset])
    return keys


def token_table(joined: str, separator: str) -> tuple[list[str], np.ndarray]:
    """The terms in `joined` (separated by `separator`, a character no term contains) as their
    distinct tokens and a table of token numbers: row i holds each term's i-th token, -1 past
    the term's end. `table_keys` of it equals `joined_term_keys(joined, separator)`, hashing each
    distinct token once instead of every token of every term (a tenth as many strings made)."""
    pieces = joined.replace(separator, f" {_MARKER} ").split(" ")
    tokens = list(dict.fromkeys(chain((_MARKER,), pieces)))  # the marker first: number 0
    number = {token: position for position, token in enumerate(tokens)}
    numbers = np.fromiter(map(number.__getitem__, pieces), dtype=np.int32, count=len(pieces))
    ends = np.append(np.flatnonzero(numbers == 0), len(pieces))
    starts = np.append(0, ends[:-1] + 1)
    lengths = ends - starts
    table = np.full((int(lengths.max(initial=1)), len(starts)), -1, dtype=np.int32)
    for offset in range(len(table)):
        longer = lengths > offset
        table[offset, longer] = numbers[starts[longer] + offset] - 1
    return tokens[1:], table


def table_keys(tokens: list[str], table: np.ndarray) -> np.ndarray:
    """The key of each term of a `token_table` (its column), as `NgramCounter` forms them."""
    hashed = hash_strings(tokens, len(tokens))
    keys = hashed[table[0]]
    for row in table[1:]:
        longer = row >= 0
        keys[longer] = combine(keys[longer], hashed[row[longer]])
    return keys


class NgramCounter:
    """Counts the n-grams of texts that `lookup` maps to a column (of `width`), as
    scikit-learn's `CountVectorizer.transform` counts a fixed vocabulary's terms."""

    def __init__(self, lookup: Lookup, width: int, analyzer: WordNgrams, dtype: Any) -> None:
        self.lookup = lookup  # keys -> their columns, -1 where unknown
        self.width = width
        self.analyzer = analyzer
        self.dtype = dtype

    def count(self, documents: list[Any]) -> TermCounts:
        """Term counts of `documents`, the matrix scikit-learn's `_count_vocab` returns."""
        keys, key_rows = self._ngram_keys(documents)
        columns = self.lookup(keys)
        known = columns >= 0
        rows, width = len(documents), self.width
        # One sort of (row, column) pairs orders each row's columns and brings repeats together.
        pairs = columns[known] if key_rows is None else key_rows[known] * width + columns[known]
        pairs.sort()
        # Where each distinct pair starts, and where the last one ends.
        boundary = np.empty(len(pairs) + 1, dtype=bool)
        boundary[0] = boundary[-1] = True
        np.not_equal(pairs[1:], pairs[:-1], out=boundary[1:-1])
        edges = boundary.nonzero()[0]
        distinct = pairs[edges[:-1]]
        counts = (edges[1:] - edges[:-1]).astype(self.dtype)
        # scikit-learn's choice: 32-bit indices unless the counts outgrow them.
        index_dtype = np.int32 if max(len(distinct), width) < 2**31 else np.int64
        if rows == 1:
            indptr = np.array([0, len(distinct)], dtype=index_dtype)
            indices = distinct.astype(index_dtype)
        else:
            row_starts = np.arange(rows + 1, dtype=np.int64) * width
            indptr = np.searchsorted(distinct, row_starts).astype(index_dtype)
            indices = (distinct % width).astype(index_dtype)
        return TermCounts(counts, indices, indptr, (rows, width))

    def _ngram_keys(self, documents: list[Any]) -> tuple[np.ndarray, np.ndarray | None]:
        """The key of every n-gram of `documents` in the analyzer's range, and its row (None
        for one document: all are in row 0)."""
        if len(documents) == 1:  # a lone request: no rows to keep apart
            tokens = self.analyzer.tokens(documents[0])
            hashes, rows = hash_strings(tokens, len(tokens)), None
        else:
            each = [self.analyzer.tokens(document) for document in documents]
            lengths = np.fromiter(map(len, each), dtype=np.int64, count=len(each))
            hashes = hash_strings(chain.from_iterable(each), int(lengths.sum()))
            rows = np.arange(len(documents)).repeat(lengths)
        low, high = self.analyzer.ngram_range
        keys, key_rows = [], []
        ngram = hashes
        for n in range(1, high + 1):
            if n > 1:  # ngram[i] becomes the key of tokens i..i+n-1
                ngram = combine(ngram[:-1], hashes[n - 1 :])
            if n < low:
                continue
            if rows is None:
                keys.append(ngram)
            else:  # keep the n-grams that lie inside one document
                first_rows = rows[: len(ngram)]
                same_document = first_rows == rows[n - 1 :]
                keys.append(ngram[same_document])
                key_rows.append(first_rows[same_document])
        return np.concatenate(keys), None if rows is None else np.concatenate(key_rows)
