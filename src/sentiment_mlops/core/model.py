"""The classifier: a TF-IDF + logistic regression pipeline built from the parameters."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from sentiment_mlops.core.data import DataError
from sentiment_mlops.core.params import TrainingParams
from sentiment_mlops.core.split import Split
from sentiment_mlops.core.text import WordNgrams, as_text_array
from sentiment_mlops.core.vectorizer import NgramTfidfVectorizer


def build_pipeline(params: TrainingParams) -> Pipeline:
    """TF-IDF over cleaned text (`WordNgrams`, `NgramTfidfVectorizer`), then logistic regression.

    The first step accepts lists, Series and one-column DataFrames, so the same pipeline serves
    scikit-learn callers and MLflow's pyfunc (which passes a DataFrame).
    """
    vec, clf = params.vectorizer, params.model
    return Pipeline(
        [
            ("to_text", FunctionTransformer(as_text_array, validate=False)),
            (
                "tfidf",
                NgramTfidfVectorizer(
                    analyzer=WordNgrams(vec.ngram_range),
                    max_features=vec.max_features,
                    min_df=vec.min_df,
                    sublinear_tf=vec.sublinear_tf,
                    dtype=np.float32,
                ),
            ),
            (
                "clf",
                LogisticRegression(
                    C=clf.C,
                    max_iter=clf.max_iter,
                    class_weight=clf.class_weight,
                    solver="liblinear",
                    random_state=params.data.random_state,
                ),
            ),
        ]
    )


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
        min_df = params.vectorizer.min_df
        at_least = f"{min_df:.0%}" if isinstance(min_df, float) else min_df
        return (
            f"vectorizer.min_df={min_df} keeps no words: no word occurs in at least {at_least} "
            f"of the {rows} training reviews; lower min_df"
        )
    return None
