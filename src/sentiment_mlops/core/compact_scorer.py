"""The served model without scikit-learn: its fitted parameters in one numpy file (issue 15).

Unpickling the pipeline imports scikit-learn, scipy and pandas (most of a server's start and
a third of its memory) and rebuilds a 100,000-entry vocabulary dict on every reload. A logged
version whose pipeline `core.lean_scorer` supports also carries `COMPACT_FILE`: the parameters
`LeanScorer` reads, as arrays, the terms as one UTF-8 blob in column order, and probe texts with
the probabilities the real pipeline gave them when it was saved. `CompactScorer.load` reads it
with numpy alone (`allow_pickle=False`: nothing in it can run code) and scores as
`LeanScorer` does:

    tokens (`core.text.WordNgrams`) -> n-gram keys and counts (`core.term_counts`, looked up by
    binary search in the sorted term keys) -> log(tf) + 1 -> * idf -> l2 row normalisation ->
    * NB ratio -> X @ coef + intercept -> expit -> [1 - p, p]

summing each row in column order from 0.0, as scikit-learn's and scipy's kernels do, so the
probabilities are scikit-learn's to the last bit or within a rounding of `exp`. The term keys
are rebuilt from the strings in every process (Python's hashes are seeded per process); if two
terms' keys collide here, `load` raises `CompactCollisionError` and the caller unpickles the
pipeline instead. Any other fault (a damaged or altered file, probes scored differently) raises
`CompactScorerError`: the version is refused.

Written by `core.compact_export` (which needs scikit-learn); this module imports numpy, `re`
and `core.text` only.
"""

from __future__ import annotations

import gc
import io
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentiment_mlops.core.term_counts import NgramCounter, joined_term_keys
from sentiment_mlops.core.text import WordNgrams, as_text_array

COMPACT_FILE = "compact_scorer.npz"
# The version's `MLmodel` metadata key that names the file (absent: an older version).
COMPACT_METADATA_KEY = "sentiment_compact_scorer"
FORMAT_VERSION = 1
_MAX_NGRAM = 8
# The slot table's marks for a slot home to no key, and to several keys.
_EMPTY, _CROWDED = -1, -2
TERM_SEPARATOR = "\n"  # between terms (runs of word characters joined by single spaces)
_FLOAT64_ARRAYS = ("idf", "coef", "intercept", "expected")
# The counts' dtype (the vectorizer's), by item size: float32 as our pipeline, or float64.
_COUNT_DTYPES: dict[int, np.dtype] = {4: np.dtype(np.float32), 8: np.dtype(np.float64)}


class CompactScorerError(ValueError):
    """The compact file is damaged, altered or of another format: refuse the version."""


class CompactCollisionError(CompactScorerError):
    """Two terms' keys collide in this process: score with the pickled pipeline instead."""


@dataclass(frozen=True, eq=False)
class CompactModel:
    """Everything `COMPACT_FILE` holds."""

    terms: str  # the terms of columns 0, 1, ... separated by TERM_SEPARATOR
    dtype: np.dtype  # of the counts and the NB ratio: float32 or float64
    ngram_range: tuple[int, int]
    binary: bool
    sublinear_tf: bool
    idf: np.ndarray | None
    nb_ratio: np.ndarray | None
    coef: np.ndarray  # (n_features,)
    intercept: np.ndarray  # (1,)
    classes: np.ndarray  # (2,), int64
    probe_texts: list[str]
    expected: np.ndarray  # (len(probe_texts), 2): the pipeline's predict_proba at save time

    def to_bytes(self) -> bytes:
        """The `.npz` file: arrays only, no pickled object."""
        absent = np.zeros(0, dtype=np.float64)
        probes = [text.encode("utf-8", "surrogatepass") for text in self.probe_texts]
        arrays: dict[str, np.ndarray] = {
            "format": np.array([FORMAT_VERSION], dtype=np.int64),
            "terms": np.frombuffer(self.terms.encode("utf-8"), dtype=np.uint8),
            "dtype": np.array([self.dtype.itemsize], dtype=np.int64),
            "ngram_range": np.array(self.ngram_range, dtype=np.int64),
            "flags": np.array([self.binary, self.sublinear_tf], dtype=np.bool_),
            "idf": absent if self.idf is None else self.idf,
            "nb_ratio": absent if self.nb_ratio is None else self.nb_ratio,
            "coef": self.coef,
            "intercept": self.intercept,
            "classes": self.classes.astype(np.int64),
            "probes": np.frombuffer(b"".join(probes), dtype=np.uint8),
            "probe_lengths": np.array([len(probe) for probe in probes], dtype=np.int64),
            "expected": self.expected,
        }
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactModel:
        """Read and check a `.npz` written by `to_bytes`, or raise `CompactScorerError`."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
            raise CompactScorerError(f"unreadable compact scorer: {error}") from error
        try:
            return cls._of_arrays(arrays)
        except (KeyError, IndexError, TypeError, ValueError, UnicodeDecodeError) as error:
            if isinstance(error, CompactScorerError):
                raise
            raise CompactScorerError(f"malformed compact scorer: {error!r}") from error

    @classmethod
    def _of_arrays(cls, arrays: dict[str, np.ndarray]) -> CompactModel:
        if arrays["format"].tolist() != [FORMAT_VERSION]:
            raise CompactScorerError(f"compact scorer format {arrays['format'].tolist()}")
        dtype = _COUNT_DTYPES.get(int(arrays["dtype"][0]))
        ratio = arrays["nb_ratio"].dtype
        if dtype is None or (arrays["nb_ratio"].size and ratio != dtype):
            raise CompactScorerError(f"counts of {arrays['dtype']}, NB ratio of {ratio}")
        for name in _FLOAT64_ARRAYS:
            if arrays[name].dtype != np.float64:
                raise CompactScorerError(f"{name} is {arrays[name].dtype}, not float64")
        terms = _text(arrays["terms"])
        width = terms.count(TERM_SEPARATOR) + 1
        low, high = (int(n) for n in arrays["ngram_range"].tolist())
        lengths = arrays["probe_lengths"].astype(np.int64)
        probe_blob = _bytes(arrays["probes"])
        if lengths.min(initial=0) < 0 or int(lengths.sum()) != len(probe_blob):
            raise CompactScorerError("probe texts do not match their lengths")
        ends = np.cumsum(lengths).tolist()
        starts = [0, *ends[:-1]]
        probes = [
            probe_blob[a:b].decode("utf-8", "surrogatepass")
            for a, b in zip(starts, ends, strict=True)
        ]
        model = cls(
            terms=terms,
            dtype=dtype,
            ngram_range=(low, high),
            binary=bool(arrays["flags"][0]),
            sublinear_tf=bool(arrays["flags"][1]),
            idf=_optional(arrays["idf"]),
            nb_ratio=_optional(arrays["nb_ratio"]),
            coef=arrays["coef"],
            intercept=arrays["intercept"],
            classes=arrays["classes"],
            probe_texts=probes,
            expected=arrays["expected"],
        )
        shapes = {
            "coef": (model.coef.shape, (width,)),
            "intercept": (model.intercept.shape, (1,)),
            "classes": (model.classes.shape, (2,)),
            "expected": (model.expected.shape, (len(probes), 2)),
            "idf": (_shape(model.idf, width), (width,)),
            "nb_ratio": (_shape(model.nb_ratio, width), (width,)),
        }
        wrong = [f"{name} {got} not {want}" for name, (got, want) in shapes.items() if got != want]
        if wrong or not 1 <= low <= high <= _MAX_NGRAM or not probes or width >= 2**31:
            raise CompactScorerError(f"inconsistent compact scorer: {wrong or (low, high)}")
        if model.classes.dtype.kind not in "iu":
            raise CompactScorerError(f"classes are {model.classes.dtype}, not integers")
        return model


class CompactScorer:
    """A `CompactModel`'s probabilities, from numpy arrays (the term strings are not kept)."""

    def __init__(self, model: CompactModel) -> None:
        if not np.all(np.isfinite(model.coef)):
            raise CompactScorerError("coefficients that are not finite")
        # This process's hashes, in column order; the collector paused, as it would walk the
        # heap again and again while 200,000 token strings are made (`_VocabularyTable.build`).
        paused = gc.isenabled()
        gc.disable()
        try:
            keys = joined_term_keys(model.terms, TERM_SEPARATOR)
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
        """The pipeline's `predict_proba(texts)`: one row of [p(classes_[0]), p(classes_[1])]."""
        counts = self._counter.count(list(as_text_array(texts)))
        data, indices, indptr = counts.data, counts.indices, counts.indptr
        if self.binary:
            data.fill(1)
        if self.sublinear_tf:
            np.log(data, data)
            data += 1.0
        if self.idf is not None:
            data *= self.idf[indices]
        # scikit-learn's kernel: squares in the data's type, summed and divided in float64.
        norms = np.sqrt(_row_sums((data * data).astype(np.float64), indptr))
        if len(norms) == 1:
            if norms[0]:  # an empty row stays as it is, as scikit-learn leaves it
                data /= norms
        else:
            norms[norms == 0.0] = 1.0
            data /= np.repeat(norms, np.diff(indptr))
        if self.nb_ratio is not None:
            data *= self.nb_ratio[indices]
        # scipy upcasts float32 values to float64 before the product, as this does.
        decision = _row_sums(data * self.coef[indices], indptr) + self.intercept
        positive = np.array([_expit(value) for value in decision.tolist()])
        return np.stack([1 - positive, positive], axis=1)


def _key_lookup(keys: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A lookup from a key to its column (its position in `keys`), or -1, in numpy alone.

    A slot table of at least 4 slots per key, addressed by a key's top bits, holds the key
    homed in each slot that is home to one key: most queries are answered by one gather. A
    query whose slot is home to several keys (about one vocabulary term in six) is looked up by
    binary search in the sorted keys. A few numpy calls whatever the number of queries: a lone
    review has about 400. The function holds its own arrays only (no reference cycle through
    the scorer).
    """
    columns = np.argsort(keys)  # distinct keys (else refused below): any sort order will do
    ordered = keys[columns]
    if np.any(ordered[1:] == ordered[:-1]):
        raise CompactCollisionError("two vocabulary terms have the same key in this process")
    last = len(ordered) - 1
    bits = max(4, (4 * len(keys) - 1).bit_length())
    shift = np.uint64(64 - bits)
    slots, first, counts = np.unique(keys >> shift, return_index=True, return_counts=True)
    slot_key = np.zeros(1 << bits, dtype=np.uint64)
    slot_column = np.full(1 << bits, _EMPTY, dtype=np.int32)
    alone = counts == 1
    slot_key[slots[alone]] = keys[first[alone]]
    slot_column[slots[alone]] = first[alone]
    slot_column[slots[~alone]] = _CROWDED

    def lookup(queries: np.ndarray) -> np.ndarray:
        at = queries >> shift
        stored = slot_column[at]
        # A slot's column where its key is the query; else -1, or _CROWDED for a shared slot.
        found = np.where(slot_key[at] == queries, stored, np.minimum(stored, _EMPTY))
        rest = np.flatnonzero(found == _CROWDED)
        if len(rest):
            missed = queries[rest]
            where = np.searchsorted(ordered, missed)
            np.minimum(where, last, out=where)
            found[rest] = np.where(ordered[where] == missed, columns[where], -1)
        return found

    return lookup


def _row_sums(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Each CSR row's sum, added one value after another from 0.0 in column order, as
    scikit-learn's l2 normalisation and scipy's `csr_matvec` add (numpy's `sum` is pairwise,
    `reduceat` and `dot` round differently): a cumulative sum along rows padded with zeros."""
    if len(indptr) == 2:  # one text: the API's single requests
        return np.cumsum(np.append(0.0, values))[-1:]
    lengths = np.diff(indptr)
    rows, widest = len(lengths), int(lengths.max(initial=0))
    if rows * widest > 4 * len(values) + 4096:  # one long text among short ones: row by row
        bounds = zip(indptr[:-1].tolist(), indptr[1:].tolist(), strict=True)
        return np.array([np.cumsum(np.append(0.0, values[a:b]))[-1] for a, b in bounds])
    grid = np.zeros((rows, widest + 1), dtype=np.float64)
    row_of = np.repeat(np.arange(rows), lengths)
    grid[row_of, np.arange(len(values)) - np.repeat(indptr[:-1], lengths) + 1] = values
    return np.cumsum(grid, axis=1)[:, -1]


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


def _text(blob: np.ndarray) -> str:
    return _bytes(blob).decode("utf-8")


def _bytes(blob: np.ndarray) -> bytes:
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise CompactScorerError(f"a text blob of {blob.dtype}, not bytes")
    return blob.tobytes()


def _optional(values: np.ndarray) -> np.ndarray | None:
    return None if values.shape == (0,) else values


def _shape(values: np.ndarray | None, width: int) -> tuple[int, ...]:
    return (width,) if values is None else values.shape
