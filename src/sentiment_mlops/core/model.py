"""The classifier: a TF-IDF + logistic regression pipeline built from the parameters."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer

from sentiment_mlops.core.data import DataError
from sentiment_mlops.core.nb import NaiveBayesWeighting
from sentiment_mlops.core.params import TrainingParams
from sentiment_mlops.core.split import Split
from sentiment_mlops.core.text import WordNgrams, as_text_array, clean_text
from sentiment_mlops.core.vectorizer import NgramTfidfVectorizer


def build_pipeline(params: TrainingParams) -> Pipeline:
    """TF-IDF features over cleaned text, optionally NB-weighted, then logistic regression.

    `features.set` picks word n-grams (`WordNgrams` with the vectorised `NgramTfidfVectorizer`,
    the fast serving path), char_wb n-grams (scikit-learn's analyzer) or both side by side;
    `features.nb_alpha` adds naive Bayes weighting (`core/nb.py`). The first step accepts lists,
    Series and one-column DataFrames, so the same pipeline serves scikit-learn callers and
    MLflow's pyfunc (which passes a DataFrame).
    """
    steps: list[tuple[str, Any]] = [
        ("to_text", FunctionTransformer(as_text_array, validate=False)),
        ("tfidf", _features(params)),
    ]
    if params.features.nb_alpha is not None:
        steps.append(("nb", NaiveBayesWeighting(alpha=params.features.nb_alpha)))
    clf = params.model
    steps.append(
        (
            "clf",
            LogisticRegression(
                C=clf.C,
                max_iter=clf.max_iter,
                class_weight=clf.class_weight,
                solver="liblinear",
                random_state=params.data.random_state,
            ),
        )
    )
    return Pipeline(steps)


def _features(params: TrainingParams) -> Any:
    """The TF-IDF step of `features.set`: one vectorizer, or both side by side (a union)."""
    parts: list[tuple[str, TfidfVectorizer]] = []
    if params.features.uses_words:
        vec = params.vectorizer
        parts.append(
            (
                "word",
                NgramTfidfVectorizer(
                    analyzer=WordNgrams(vec.ngram_range),
                    max_features=vec.max_features,
                    min_df=vec.min_df,
                    sublinear_tf=vec.sublinear_tf,
                    dtype=np.float32,
                ),
            )
        )
    if params.features.uses_chars:
        char = params.char_vectorizer
        parts.append(
            (
                "char_wb",
                TfidfVectorizer(
                    analyzer="char_wb",
                    preprocessor=clean_text,
                    ngram_range=tuple(char.ngram_range),
                    max_features=char.max_features,
                    min_df=char.min_df,
                    sublinear_tf=char.sublinear_tf,
                    dtype=np.float32,
                ),
            )
        )
    return parts[0][1] if len(parts) == 1 else FeatureUnion(parts)


def train_model(split: Split, params: TrainingParams) -> Pipeline:
    """Fit a fresh pipeline on the training rows of `split`.

    Training data that leaves the vectorizer no words raises `DataError` saying why.
    """
    pipeline = build_pipeline(params)
    try:
        pipeline.fit(split.train_texts, split.train_labels)
    except ValueError as error:
        problem = _vocabulary_problem(str(error), params, len(split.train_texts))
        if problem is None:
            raise
        raise DataError(problem) from None
    return pipeline


def _vocabulary_problem(message: str, params: TrainingParams, rows: int) -> str | None:
    """What scikit-learn's "no terms" errors mean for these params, or None for other errors."""
    if "empty vocabulary" in message:
        return (
            f"the {rows} training reviews contain no words after cleaning "
            "(a word is two or more letters or digits)"
        )
    if "no terms remain" in message or "documents than min_df" in message:
        section, what = (
            ("vectorizer", "word")
            if params.features.uses_words
            else ("char_vectorizer", "character n-gram")
        )
        min_df = getattr(params, section).min_df
        at_least = f"{min_df:.0%}" if isinstance(min_df, float) else min_df
        return (
            f"{section}.min_df={min_df} keeps no words: no {what} occurs in at least {at_least} "
            f"of the {rows} training reviews; lower min_df"
        )
    return None
