"""Probabilities of our pipeline's shape without scikit-learn's checks on every call.

`predict_proba` on a TF-IDF + logistic regression pipeline spends a fixed ~1.2 ms per call
validating its input (TfidfTransformer's and LogisticRegression's `validate_data`,
`check_is_fitted`, namespace checks) against 0.1-0.15 ms per text of actual work. A server
calls the model with texts it has already checked, many times a second, so `LeanScorer` reads
the fitted parameters once and then repeats only the arithmetic, in the same order and with the
same functions scikit-learn uses, so the results are the same to the last bit:

    counts (the vectorizer's own `CountVectorizer.transform`) -> log(tf) + 1 -> * idf
    -> l2 row normalisation (scikit-learn's kernel) -> * NB ratio -> X @ coef.T + intercept
    -> expit -> [1 - p, p]

`LeanScorer.of(pipeline)` raises `UnsupportedPipelineError` (with the reason) for any other shape or
setting; callers then use the pipeline itself, and should compare both on a few texts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

from sentiment_mlops.core.nb import NaiveBayesWeighting
from sentiment_mlops.core.text import as_text_array


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
    coef_t: np.ndarray  # (n_features, 1), as LogisticRegression's decision_function uses it
    intercept: np.ndarray

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
            coef_t=classifier.coef_.T,
            intercept=classifier.intercept_,
        )

    def predict_proba(self, texts: Any) -> np.ndarray:
        """The pipeline's `predict_proba(texts)`, computed without its per-call checks."""
        documents = as_text_array(texts) if self.to_text else texts
        # CountVectorizer's transform: the counting alone, without TfidfVectorizer's checks.
        matrix = CountVectorizer.transform(self.vectorizer, documents)
        data = matrix.data
        if self.sublinear_tf:
            np.log(data, data)
            data += 1.0
        if self.idf is not None:
            data *= self.idf[matrix.indices]
        inplace_csr_row_normalize_l2(matrix)
        if self.nb_ratio is not None:
            matrix.data = matrix.data * self.nb_ratio[matrix.indices]
        scores = (matrix @ self.coef_t + self.intercept).reshape(-1)
        positive = expit(scores, out=scores)
        return np.stack([1 - positive, positive], axis=1)


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
