"""Probabilities of our pipeline's shape without scikit-learn's checks on every call.

`predict_proba` on a TF-IDF + logistic regression pipeline spends a fixed ~1.2 ms per call
validating its input (TfidfTransformer's and LogisticRegression's `validate_data`,
`check_is_fitted`, namespace checks) against 0.1-0.15 ms per text of actual work. A server
calls the model with texts it has already checked, many times a second, so `LeanScorer` reads
the fitted parameters once and then repeats only the arithmetic, in the same order and with the
same functions scikit-learn uses, so the results are the same to the last bit:

    counts (`NgramTfidfVectorizer.count_terms`: CSR arrays, no scipy matrix; other
    vectorizers: their own `CountVectorizer.transform`) -> log(tf) + 1 -> * idf
    -> l2 row normalisation (scikit-learn's kernel) -> * NB ratio -> X @ coef.T + intercept
    (summed as scipy sums) -> expit -> [1 - p, p]

A call's fixed cost matters as much as its cost per text: the API scores a request alone, or a
micro-batch split between champion and challenger, so a handful of numpy calls per step, and
no scipy matrix for one text.

`LeanScorer.of(pipeline)` raises `UnsupportedPipelineError` (with the reason) for any other shape or
setting; callers then use the pipeline itself, and should compare both on a few texts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

from sentiment_mlops.core.nb import NaiveBayesWeighting
from sentiment_mlops.core.text import as_text_array
from sentiment_mlops.core.vectorizer import NgramTfidfVectorizer


class UnsupportedPipelineError(ValueError):
    """The model is not of the shape `LeanScorer` reproduces; use its own `predict_proba`."""


@dataclass(frozen=True)
class LeanScorer:
    """The fitted parameters of a [to_text] -> TF-IDF -> [NB] -> binary LR pipeline."""

    to_text: bool
    vectorizer: TfidfVectorizer
    sublinear_tf: bool
    idf: np.ndarray | None
    nb_ratio: np.ndarray | None
    coef: np.ndarray  # (n_features,), float64
    intercept: np.ndarray  # (1,)

    @classmethod
    def of(cls, model: Any) -> LeanScorer:
        """Read a fitted pipeline's parameters, or raise `UnsupportedPipelineError` saying why."""
        if type(model) is not Pipeline:
            raise UnsupportedPipelineError(f"{type(model).__name__} is not a Pipeline")
        steps = [step for _, step in model.steps if step is not None and step != "passthrough"]
        to_text = bool(steps) and _is_to_text(steps[0])
        steps = steps[1:] if to_text else steps
        nb = [step for step in steps[1:-1] if type(step) is NaiveBayesWeighting]
        if len(steps) != 2 + len(nb) or len(nb) != len(steps[1:-1]):
            names = [type(step).__name__ for step in steps]
            raise UnsupportedPipelineError(f"steps {names} are not TF-IDF, [NB], LR")
        vectorizer, classifier = steps[0], steps[-1]
        weighting = _fitted_weighting(vectorizer)
        _check_classifier(classifier)
        return cls(
            to_text=to_text,
            vectorizer=vectorizer,
            sublinear_tf=bool(weighting.sublinear_tf),
            idf=getattr(weighting, "idf_", None),  # use_idf=False: none, as transform tests
            nb_ratio=nb[0].ratio_ if nb else None,
            coef=classifier.coef_.ravel(),
            intercept=classifier.intercept_,
        )

    def predict_proba(self, texts: Any) -> np.ndarray:
        """The pipeline's `predict_proba(texts)`, computed without its per-call checks."""
        documents = as_text_array(texts) if self.to_text else texts
        counts = self._count(documents)
        data = counts.data
        if self.sublinear_tf:
            np.log(data, data)
            data += 1.0
        if self.idf is not None:
            data *= self.idf[counts.indices]
        inplace_csr_row_normalize_l2(counts)
        if self.nb_ratio is not None:
            data = data * self.nb_ratio[counts.indices]
        positive = expit(_decision(counts, data, self.coef, self.intercept))
        return np.stack([1 - positive, positive], axis=1)

    def _count(self, documents: Any) -> Any:
        """CountVectorizer's transform, as CSR arrays from ours (no scipy matrix to build)."""
        if isinstance(self.vectorizer, NgramTfidfVectorizer):
            return self.vectorizer.count_terms(documents)
        return CountVectorizer.transform(self.vectorizer, documents)


def _decision(counts: Any, data: np.ndarray, coef: np.ndarray, intercept: Any) -> np.ndarray:
    """`X @ coef + intercept` for X the CSR rows of `counts` with values `data`, as scipy sums.

    One row (a lone request) without a scipy matrix, whose checks cost more than the product:
    scipy's `csr_matvec` adds a row's products one after another from 0.0 in column order, and
    so does `cumsum` (numpy's `sum` is pairwise and `dot` is BLAS's: both round differently).
    """
    if len(counts.indptr) == 2:
        products = data * coef[counts.indices]  # float64, as scipy upcasts: rounded alike
        return np.cumsum(np.append(0.0, products))[-1:] + intercept
    matrix = sp.csr_array((data, counts.indices, counts.indptr), shape=counts.shape)
    return matrix @ coef + intercept


def _is_to_text(step: Any) -> bool:
    return (
        type(step) is FunctionTransformer
        and step.func is as_text_array
        and not step.validate
        and step.kw_args is None
    )


def _fitted_weighting(step: Any) -> Any:
    """The TfidfTransformer a fitted TfidfVectorizer weights with: its settings, not the
    vectorizer's (which could have been changed after fitting), are what `transform` uses."""
    weighting = getattr(step, "_tfidf", None)
    if not isinstance(step, TfidfVectorizer) or not hasattr(step, "vocabulary_"):
        raise UnsupportedPipelineError(f"first step {type(step).__name__} is not a fitted TF-IDF")
    if weighting is None or weighting.norm != "l2":
        raise UnsupportedPipelineError(f"TF-IDF norm={getattr(weighting, 'norm', None)!r}, not l2")
    if step.dtype not in (np.float32, np.float64):
        raise UnsupportedPipelineError(f"TF-IDF dtype {step.dtype!r}, not float")
    return weighting


def _check_classifier(step: Any) -> None:
    if type(step) is not LogisticRegression or not hasattr(step, "coef_"):
        raise UnsupportedPipelineError(f"last step {type(step).__name__} is not a fitted LR")
    if len(step.classes_) != 2 or step.coef_.shape[0] != 1:
        raise UnsupportedPipelineError(f"LR of {len(step.classes_)} classes, not binary")
