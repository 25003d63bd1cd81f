"""Write a fitted pipeline as `core.compact_file`'s file, for the pipelines it can score.

At save time, where scikit-learn is loaded anyway: the parameters `LeanScorer` reads, the terms
in column order, and probe texts scored by the pipeline itself, so that a server checks the
file against the real pipeline's answers without importing scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sentiment_mlops.core.compact_file import TERM_SEPARATOR, CompactModel, TermTable
from sentiment_mlops.core.lean_scorer import LeanScorer, UnsupportedPipelineError
from sentiment_mlops.core.text import WordNgrams
from sentiment_mlops.core.vectorizer import NgramTfidfVectorizer

# Fixed probes (any script, empty, emoji, a long text); vocabulary probes are added to them.
_FIXED_PROBES = (
    "",
    "   \t\n ",
    "😀",
    "A wonderful film: moving, funny and beautifully acted. I loved every minute.",
    "Dull, predictable and far too long. A complete waste of time.",
    "Ça m'a plu 🎬 — 好看! <br /><br />Not bad_at all",
    "great " * 300 + "awful " * 299,
)
# Texts made of vocabulary terms spread over all columns: the lookup, idf, NB ratio and coef of
# many columns take part in the probes (a damaged array shows in their probabilities).
_VOCABULARY_PROBES = 12
_TERMS_PER_PROBE = 80


def compact_model_of(pipeline: Any) -> CompactModel:
    """The compact form of a fitted pipeline, or `UnsupportedPipelineError` saying why not."""
    lean = LeanScorer.of(pipeline)
    vectorizer = lean.vectorizer
    if not lean.to_text:
        raise UnsupportedPipelineError("no to_text first step")
    if type(vectorizer) is not NgramTfidfVectorizer or type(vectorizer.analyzer) is not WordNgrams:
        raise UnsupportedPipelineError("the vectorizer is not word n-grams (WordNgrams)")
    dtype = np.dtype(vectorizer.dtype)
    if vectorizer.input != "content" or dtype not in (np.float32, np.float64):
        raise UnsupportedPipelineError(f"vectorizer input={vectorizer.input!r}, dtype={dtype}")
    vocabulary = vectorizer.vocabulary_
    terms = [""] * len(vocabulary)
    for term, column in vocabulary.items():
        terms[column] = term
    if any(TERM_SEPARATOR in term for term in terms) or "" in terms:
        raise UnsupportedPipelineError("a term that is empty or spans lines")
    probes = [*_FIXED_PROBES, *_vocabulary_probes(terms)]
    classes = np.asarray(pipeline.classes_)
    return CompactModel(
        vocabulary=TermTable.of_terms(terms),
        dtype=dtype,
        ngram_range=tuple(vectorizer.analyzer.ngram_range),  # type: ignore[arg-type]
        binary=bool(vectorizer.binary),
        sublinear_tf=lean.sublinear_tf,
        idf=_float64(lean.idf),
        nb_ratio=None if lean.nb_ratio is None else np.asarray(lean.nb_ratio, dtype=dtype),
        coef=np.asarray(lean.coef, dtype=np.float64),
        intercept=np.asarray(lean.intercept, dtype=np.float64).reshape(1),
        classes=classes.astype(np.int64),
        probe_texts=probes,
        expected=np.asarray(pipeline.predict_proba(probes), dtype=np.float64),
    )


def compact_bytes(pipeline: Any) -> bytes | None:
    """The compact file of `pipeline`, or None when the compact scorer cannot score it."""
    try:
        return compact_model_of(pipeline).to_bytes()
    except UnsupportedPipelineError:
        return None


def _vocabulary_probes(terms: list[str]) -> list[str]:
    step = max(1, len(terms) // (_VOCABULARY_PROBES * _TERMS_PER_PROBE))
    spread = terms[::step]
    return [
        " ".join(spread[start::_VOCABULARY_PROBES][:_TERMS_PER_PROBE])
        for start in range(min(_VOCABULARY_PROBES, len(spread)))
    ]


def _float64(values: np.ndarray | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=np.float64)
