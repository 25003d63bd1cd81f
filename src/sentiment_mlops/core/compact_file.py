"""The compact scorer's file: a served pipeline's fitted parameters as numpy arrays (issue 15).

`COMPACT_FILE` is an `.npz` of arrays only (`allow_pickle=False` both ways: nothing in it can
run code): the parameters `core.lean_scorer.LeanScorer` reads, the vocabulary in column order,
and probe texts with the probabilities the real pipeline gave them when it was saved.
`core.compact_scorer` scores from it; `core.compact_export` writes it.

Format 1, and its additive revisions (a reader of format 1 ignores arrays it does not know, so
every revision stays readable by every format-1 reader):
- revision 0 (no `format_revision` array): the terms as one UTF-8 blob, `TERM_SEPARATOR`
  between them. A reader splits the blob into every token of every term (about 190,000 strings
  for 100,000 word 1-2-grams) to rebuild the term keys, which are per process (`hash`).
- revision 1: also the vocabulary as a `TermTable`: its distinct tokens (one blob, about
  19,000) and each term's token numbers (an int32 array), from which the keys are rebuilt
  hashing each distinct token once: a reload's largest cost cut thirtyfold. The revision-0
  blob is still written, for servers that read revision 0 only.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentiment_mlops.core.term_counts import joined_term_keys, table_keys, token_table

COMPACT_FILE = "compact_scorer.npz"
# The version's `MLmodel` metadata key that names the file (absent: an older version).
COMPACT_METADATA_KEY = "sentiment_compact_scorer"
FORMAT_VERSION = 1
FORMAT_REVISION = 1  # the revision written; readers read every revision up to it
_MAX_NGRAM = 8
TERM_SEPARATOR = "\n"  # between terms (runs of word characters joined by single spaces)
_FLOAT64_ARRAYS = ("idf", "coef", "intercept", "expected")
# The counts' dtype (the vectorizer's), by item size: float32 as our pipeline, or float64.
_COUNT_DTYPES: dict[int, np.dtype] = {4: np.dtype(np.float32), 8: np.dtype(np.float64)}
_COMMON = ("format", "dtype", "ngram_range", "flags", "idf", "nb_ratio", "coef", "intercept",
           "classes", "probes", "probe_lengths", "expected")  # fmt: skip
_TABLE = ("tokens", "term_tokens")  # revision 1's vocabulary


class CompactScorerError(ValueError):
    """The compact file is damaged, altered or of another format: refuse the version."""


class CompactCollisionError(CompactScorerError):
    """Two terms' keys collide in this process: score with the pickled pipeline instead."""


@dataclass(frozen=True, eq=False)
class TermTable:
    """The vocabulary's terms in column order, as their distinct tokens and token numbers:
    `numbers[i, c]` is the i-th token of column c's term, -1 past the term's end."""

    tokens: list[str]
    numbers: np.ndarray  # (longest term, columns), int32

    @classmethod
    def of_terms(cls, terms: list[str]) -> TermTable:
        return cls(*token_table(TERM_SEPARATOR.join(terms), TERM_SEPARATOR))

    @property
    def width(self) -> int:
        return int(self.numbers.shape[1])

    def terms(self) -> list[str]:
        """The terms, column by column (for writing: a reader never needs the strings)."""
        tokens = self.tokens
        return [" ".join(tokens[n] for n in column if n >= 0) for column in self.numbers.T.tolist()]

    def keys(self) -> np.ndarray:
        """Each column's term key in this process (`core.term_counts`)."""
        return table_keys(self.tokens, self.numbers)

    def check(self, ngram_range: tuple[int, int]) -> None:
        """Refuse a table whose numbers name no token or whose terms are not n-grams in range."""
        numbers, (low, high) = self.numbers, ngram_range
        if numbers.dtype != np.int32 or numbers.ndim != 2 or not 1 <= len(numbers) <= high:
            raise CompactScorerError(f"a term table of {numbers.dtype}, shape {numbers.shape}")
        present = numbers >= 0
        lengths = present.sum(axis=0)
        gaps = np.any(present[1:] & ~present[:-1])  # a token after a term's end
        if gaps or np.any(numbers >= len(self.tokens)) or np.any(numbers < -1) or (
            lengths.size and not low <= lengths.min() <= lengths.max() <= high
        ):  # fmt: skip
            raise CompactScorerError("a term table naming no token or terms out of range")


# A vocabulary as a file of revision 0 holds it (the terms joined) or of revision 1.
Vocabulary = TermTable | str


def vocabulary_keys(vocabulary: Vocabulary) -> np.ndarray:
    """Each column's term key in this process, from either form of the vocabulary."""
    if isinstance(vocabulary, TermTable):
        return vocabulary.keys()
    return joined_term_keys(vocabulary, TERM_SEPARATOR)


def _width(vocabulary: Vocabulary) -> int:
    if isinstance(vocabulary, TermTable):
        return vocabulary.width
    return vocabulary.count(TERM_SEPARATOR) + 1


@dataclass(frozen=True, eq=False)
class CompactModel:
    """Everything `COMPACT_FILE` holds."""

    vocabulary: Vocabulary  # the terms of columns 0, 1, ...
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
        """The `.npz` file of the latest revision: arrays only, no pickled object."""
        table = self.vocabulary
        if not isinstance(table, TermTable):
            table = TermTable(*token_table(table, TERM_SEPARATOR))
        absent = np.zeros(0, dtype=np.float64)
        probes = [text.encode("utf-8", "surrogatepass") for text in self.probe_texts]
        arrays: dict[str, np.ndarray] = {
            "format": np.array([FORMAT_VERSION], dtype=np.int64),
            "format_revision": np.array([FORMAT_REVISION], dtype=np.int64),
            "terms": _blob(TERM_SEPARATOR.join(table.terms())),  # for revision-0 readers
            "tokens": _blob(TERM_SEPARATOR.join(table.tokens)),
            "term_tokens": table.numbers,
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
        """Read and check a `.npz` of any revision, or raise `CompactScorerError`. Only the
        arrays its revision needs are read (not revision 0's blob from a later file)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                names = (*_COMMON, *(_TABLE if "term_tokens" in archive.files else ("terms",)))
                arrays = {name: archive[name] for name in names}
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
        low, high = (int(n) for n in arrays["ngram_range"].tolist())
        if not 1 <= low <= high <= _MAX_NGRAM:
            raise CompactScorerError(f"n-gram range {(low, high)}")
        vocabulary = _vocabulary(arrays, (low, high))
        width = _width(vocabulary)
        probes = _probe_texts(arrays)
        model = cls(
            vocabulary=vocabulary,
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
        if wrong or not probes or width >= 2**31:
            raise CompactScorerError(f"inconsistent compact scorer: {wrong or 'no probes'}")
        if model.classes.dtype.kind not in "iu":
            raise CompactScorerError(f"classes are {model.classes.dtype}, not integers")
        return model


def _vocabulary(arrays: dict[str, Any], ngram_range: tuple[int, int]) -> Vocabulary:
    if "term_tokens" not in arrays:  # revision 0
        return _text(arrays["terms"])
    table = TermTable(_text(arrays["tokens"]).split(TERM_SEPARATOR), arrays["term_tokens"])
    table.check(ngram_range)
    return table


def _probe_texts(arrays: dict[str, np.ndarray]) -> list[str]:
    lengths = arrays["probe_lengths"].astype(np.int64)
    blob = _bytes(arrays["probes"])
    if lengths.min(initial=0) < 0 or int(lengths.sum()) != len(blob):
        raise CompactScorerError("probe texts do not match their lengths")
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]]
    return [blob[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, ends, strict=True)]


def _blob(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


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
