"""The pipeline's transform: `NgramTfidfVectorizer` against scikit-learn's `TfidfVectorizer`.

Benchmark, not a test. Fits both vectorizers with `params.yaml`'s settings on the real IMDb
reviews, checks they produce the same matrix, then times `transform` and the whole pipeline's
`predict_proba` on batches of 1 to 256 reviews cut to about 1,000 characters (in-process, one
core, median of repeated calls). The scikit-learn vectorizer is the baseline.

    uv run python bench/vectorize.py [--data PATH] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer

from sentiment_mlops.core.data import load_reviews
from sentiment_mlops.core.model import build_pipeline
from sentiment_mlops.core.params import load_params

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "imdb_reviews.csv"
BATCH_SIZES = (1, 2, 3, 8, 64, 256)
TEXT_CHARS = 1000


def median_ms(call: Callable[[], object], seconds: float) -> float:
    """Median wall time of `call` in milliseconds, over about `seconds` of repeats."""
    call()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 5:
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per measurement")
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"no reviews at {args.data}")
    reviews = load_reviews(args.data)
    ours = build_pipeline(load_params(PROJECT_ROOT / "params.yaml"))
    ours.fit(reviews.texts, reviews.labels)
    ours_vectorizer = ours.named_steps["tfidf"]
    baseline = TfidfVectorizer(**ours_vectorizer.get_params()).fit(reviews.texts)
    texts = [text[:TEXT_CHARS] for text in reviews.texts[::-1]]  # the last ones, cut
    difference = abs(baseline.transform(texts) - ours_vectorizer.transform(texts)).max()
    print(f"{len(baseline.vocabulary_):,} terms; largest difference between the two: {difference}")
    print(f"\n{'texts':>5} {'sklearn ms':>10} {'ours ms':>8} {'speedup':>7} {'pipeline ms':>11}")
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for size in BATCH_SIZES:
            batch = texts[:size]
            before = median_ms(lambda b=batch: baseline.transform(b), args.seconds)
            after = median_ms(lambda b=batch: ours_vectorizer.transform(b), args.seconds)
            whole = median_ms(lambda b=batch: ours.predict_proba(b), args.seconds)
            print(f"{size:>5} {before:>10.3f} {after:>8.3f} {before / after:>6.2f}x {whole:>11.3f}")
    print(f"\n(mean text length {np.mean([len(t) for t in texts]):.0f} characters)")


if __name__ == "__main__":
    main()
