"""The served model without scikit-learn: its fitted parameters in one numpy file (issue 15).

Unpickling the pipeline imports scikit-learn, scipy and pandas (most of a server's start and
a third of its memory) and rebuilds a 100,000-entry vocabulary dict on every reload. A logged
version whose pipeline `core.lean_scorer` supports also carries `core.compact_file`'s file.
`CompactScorer.load` reads it with numpy alone and scores as `LeanScorer` does:

    tokens (`core.text.WordNgrams`) -> n-gram keys and counts (`core.term_counts`, looked up in
    a slot table of the term keys) -> log(tf) + 1 -> * idf -> l2 row normalisation ->
    * NB ratio -> X @ coef + intercept -> expit -> [1 - p, p]

summing each row in column order from 0.0, as scikit-learn's and scipy's kernels do, so the
probabilities are scikit-learn's to the last bit or within a rounding of `exp`. The term keys
are rebuilt in every process (Python's hashes are seeded per process, so they cannot be
stored); if two terms' keys collide here, `load` raises `CompactCollisionError` and the caller
unpickles the pipeline instead. Any other fault (a damaged or altered file, probes scored
differently) raises `CompactScorerError`: the version is refused.

Written by `core.compact_export` (which needs scikit-learn); this module imports numpy, `re`
and `core.text` only.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np

from sentiment_mlops.core.compact_file import (
    CompactCollisionError,
    CompactModel,
    CompactScorerError,
    vocabulary_keys,
)
from sentiment_mlops.core.term_counts import NgramCounter
from sentiment_mlops.core.text import WordNgrams, as_text_array


class CompactScorer:
    """A `CompactModel`'s probabilities, from numpy arrays (the term strings are not kept)."""

    def __init__(self, model: CompactModel) -> None:
        if not np.all(np.isfinite(model.coef)):
            raise CompactScorerError("coefficients that are not finite")
        # This process's keys, in column order; the collector paused, as it would walk the
        # heap again and again while the token strings are made (200,000 from a revision-0
        # file, a tenth as many from a later one; `_VocabularyTable.build`).
        paused = gc.isenabled()
        gc.disable()
        try:
            keys = vocabulary_keys(model.vocabulary)
        finally:
            if paused:
                gc.enable()
        analyzer = WordNgrams(model.ngram_range)
        self._counter = NgramCounter(_key_lookup(keys), len(keys), analyzer, model.dtype)
        self.binary, self.sublinear_tf = model.binary, model.sublinear_tf
        self.idf, self.nb_ratio = model.idf, model.nb_ratio
        self.coef, self.intercept = model.coef, model.intercept
        self.classes_ = model.classes
        self.n_features = len(keys)

    @classmethod
    def load(cls, data: bytes, tolerance: float) -> CompactScorer:
        """The scorer in a `COMPACT_FILE`'s bytes, once it scores the stored probe texts as the
        pipeline did (all together, and every other one alone) to `tolerance`."""
        model = CompactModel.from_bytes(data)
        scorer = cls(model)
        texts = model.probe_texts
        together = scorer.predict_proba(texts)
        # One text alone takes another path through the counting: every other probe, alone.
        alone = np.concatenate([scorer.predict_proba([text]) for text in texts[::2]])
        worst = max(_largest_difference(together, model.expected),
                    _largest_difference(alone, model.expected[::2]))  # fmt: skip
        if not worst <= tolerance:
            raise CompactScorerError(f"probe texts score {worst:.3g} away from the pipeline's")
        return scorer

    def predict_proba(self, texts: Any) -> np.ndarray:
        """The pipeline's `predict_proba(texts)`: one row of [p(classes_[0]), p(classes_[1])].

        A call's fixed cost is paid per micro-batch, and twice when a canary splits one, so
        each step is a few numpy calls whatever the number of texts (`_RowSums`).
        """
        counts = self._counter.count(_documents(texts))
        data, indices, indptr = counts.data, counts.indices, counts.indptr
        if self.binary:
            data.fill(1)
        if self.sublinear_tf:
            np.log(data, data)
            data += 1.0
        if self.idf is not None:
            data *= self.idf[indices]
        rows = _RowSums(indptr)
        # scikit-learn's kernel: squares in the data's type, summed and divided in float64.
        norms = np.sqrt(rows.of((data * data).astype(np.float64)))
        norms[norms == 0.0] = 1.0  # an empty row stays as it is, as scikit-learn leaves it
        data /= rows.spread(norms)
        if self.nb_ratio is not None:
            data *= self.nb_ratio[indices]
        # scipy upcasts float32 values to float64 before the product, as this does.
        decision = rows.of(data * self.coef[indices]) + self.intercept
        probabilities = np.empty((rows.count, 2))
        probabilities[:, 1] = [_expit(value) for value in decision.tolist()]
        np.subtract(1.0, probabilities[:, 1], out=probabilities[:, 0])
        return probabilities


def _documents(texts: Any) -> list[Any]:
    """The texts as `as_text_array` gives them; a list of `str` (the API's) as it is, since
    the array's round trip (a copy of every text, twice) is a tenth of a short call's cost.
    The two differ only in trailing NULs, which numpy's strings drop and tokens never hold."""
    if type(texts) is list and all(type(text) is str for text in texts):
        return texts
    return list(as_text_array(texts))


def _key_lookup(keys: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A lookup from a key to its column (its position in `keys`), or -1, in numpy alone.

    A slot table of at least 4 slots per key, addressed by a key's top bits, holds the key
    homed in each slot that is home to one key: most queries are answered by one gather. A
    slot is one uint64: the key's other bits shifted up, its column in the low bits (the top
    bits are the slot's own number, so nothing of the key is lost), one random read per query
    instead of two; an empty slot holds a code above every column, a shared slot one bit. A
    query whose slot is home to several keys (about one vocabulary term in nine) is looked up
    by binary search in those keys, sorted; only they are sorted, and only among them can two
    keys be equal. A few numpy calls whatever the number of queries: a lone review has about
    400. The function holds its own arrays only (no reference cycle through the scorer).
    """
    bits = max(4, (4 * len(keys) - 1).bit_length())  # so a column is below 2**(bits - 2)
    shift, up = np.uint64(64 - bits), np.uint64(bits)
    crowded_bit = np.uint64(1 << (bits - 1))
    homes = (keys >> shift).astype(np.intp)
    per_slot = np.bincount(homes, minlength=1 << bits)
    alone = per_slot[homes] == 1
    slots = np.full(1 << bits, crowded_bit - np.uint64(1), dtype=np.uint64)  # no column
    slots[homes[alone]] = (keys[alone] << up) | np.flatnonzero(alone).astype(np.uint64)
    slots[per_slot > 1] = crowded_bit
    crowded = np.flatnonzero(~alone)
    order = np.argsort(keys[crowded])
    ordered, columns = keys[crowded[order]], crowded[order]
    if np.any(ordered[1:] == ordered[:-1]):
        raise CompactCollisionError("two vocabulary terms have the same key in this process")
    last, width = len(ordered) - 1, np.uint64(len(keys))

    def lookup(queries: np.ndarray) -> np.ndarray:
        # The slot's column where its key is the query (the key bits cancel out); else more.
        found = slots[queries >> shift] ^ (queries << up)
        rest = (found & crowded_bit).nonzero()[0]
        found = np.where(found < width, found.view(np.int64), -1)
        if len(rest):  # then some slot is shared: `ordered` is not empty
            missed = queries[rest]
            where = np.searchsorted(ordered, missed)
            np.minimum(where, last, out=where)
            found[rest] = np.where(ordered[where] == missed, columns[where], -1)
        return found

    return lookup


class _RowSums:
    """Each CSR row's sum, added one value after another from 0.0 in column order, as
    scikit-learn's l2 normalisation and scipy's `csr_matvec` add (numpy's `sum` is pairwise,
    `reduceat` and `dot` round differently), by `cumsum`, which adds in order.

    A few rows (the API's requests, a canary's split of them) are summed one by one; more
    rows at once in a grid of rows padded with zeros, whose places are found once per call
    for both sums; a grid too sparse (one long text among short ones) row by row again.
    A sum starts from the row's first value, not from 0.0: that differs only in the sign of a
    sum of zeros only, which neither the norm's zero test nor `expit(sum + intercept)` sees.
    """

    _FEW = 4  # rows summed one by one: two numpy calls each, against the grid's ten or so

    def __init__(self, indptr: np.ndarray) -> None:
        self.count = len(indptr) - 1
        self._bounds: list[tuple[int, int]] = []
        self._places: np.ndarray | None = None
        if self.count == 1:  # a lone request: no bounds, no grid
            return
        self.lengths = indptr[1:] - indptr[:-1]
        rows, values = self.count, int(indptr[-1])
        if rows <= self._FEW:
            self._bounds = list(pairwise(indptr.tolist()))
            return
        widest = int(self.lengths.max()) + 1  # a leading zero: the sum's 0.0
        if rows * widest > 4 * values + 4096:
            self._bounds = list(pairwise(indptr.tolist()))
        else:
            self._width = widest
            starts = (indptr[:-1] - np.arange(rows) * widest - 1).repeat(self.lengths)
            self._places = np.arange(values) - starts

    def of(self, values: np.ndarray) -> np.ndarray:
        """The sum of each row's `values` (float64, in the CSR's order)."""
        if self.count == 1:
            return values.cumsum()[-1:] if len(values) else np.zeros(1)
        if self._places is None:
            return np.array([values[a:b].cumsum()[-1] if b > a else 0.0 for a, b in self._bounds])
        grid = np.zeros((self.count, self._width))
        grid.flat[self._places] = values
        return grid.cumsum(axis=1)[:, -1]

    def spread(self, per_row: np.ndarray) -> np.ndarray:
        """Each row's value repeated for each of the row's values."""
        return per_row if self.count == 1 else per_row.repeat(self.lengths)


def _expit(value: float) -> float:
    """scipy's `expit`, `1 / (1 + exp(-x))` with the C library's `exp`, as `math.exp` is:
    numpy's own `exp` rounds differently in the last bit for about one value in twenty."""
    try:
        return 1.0 / (1.0 + math.exp(-value))
    except OverflowError:  # exp(-x) is inf in C: the probability is 0
        return 0.0


def _largest_difference(actual: np.ndarray, expected: np.ndarray) -> float:
    if actual.shape != expected.shape:
        return float("inf")
    return float(np.max(np.abs(actual - expected), initial=0.0))
