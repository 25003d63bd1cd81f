"""Cost of one served prediction per feature set: the model's share of a request's latency.

Benchmark, not a test. Fits each candidate pipeline (the old default, params.yaml as read, and
the other feature sets) on the project's training split of the data, then times
`predict_proba` on one review at a time, as `/predict` calls it for a request that arrives
alone, over the held-out reviews (cycled), interleaving the models round by round so that load
from other processes hits them alike. Prints the median and p90 microseconds per review and
the ratio to the old default, measured in the same run.

    uv run python bench/predict.py [--data PATH] [--rounds 5] [--texts 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sentiment_mlops.core.data import load_reviews
from sentiment_mlops.core.model import train_model
from sentiment_mlops.core.params import load_params
from sentiment_mlops.core.split import split_reviews

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "imdb_reviews.csv"
PARAMS_FILE = PROJECT_ROOT / "params.yaml"
OLD_DEFAULT: dict[str, dict[str, Any]] = {
    "features": {"set": "word", "nb_alpha": None},
    "vectorizer": {"ngram_range": (1, 2), "max_features": 100_000, "min_df": 1},
    "model": {"C": 16.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--texts", type=int, default=300, help="single-review calls per round")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"error: {args.data}: data file not found (pass --data PATH)")
    base = load_params(PARAMS_FILE)
    reviews = load_reviews(args.data)
    split = split_reviews(reviews.texts, reviews.labels, base.data)
    candidates = {
        "old default (word 1-2, C=16)": base.updated(OLD_DEFAULT),
        "params.yaml": base,
        "word + NB": base.updated({"features": {"set": "word", "nb_alpha": 1.0}}),
        "char_wb (scikit-learn)": base.updated({"features": {"set": "char_wb"}}),
        "word + char_wb (union)": base.updated({"features": {"set": "word+char_wb"}}),
    }
    models = {name: train_model(split, params) for name, params in candidates.items()}
    texts = [split.test_texts.iloc[i % len(split.test_texts)] for i in range(args.texts)]
    chars = statistics.mean(map(len, texts))
    for model in models.values():  # warm: the fast vectorizer builds its table once
        model.predict_proba(texts[:5])
    timings: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            for text in texts:
                tick = time.perf_counter()
                model.predict_proba([text])
                timings[name].append(time.perf_counter() - tick)
    print(f"one review per call, {len(texts)} reviews x {args.rounds} rounds, {chars:.0f} chars")
    baseline = statistics.median(timings[next(iter(models))])
    print(f"{'model':<30} {'median µs':>9} {'p90 µs':>7} {'x old':>6}")
    for name, values in timings.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:<30} {median * 1e6:9.0f} {p90 * 1e6:7.0f} {median / baseline:6.2f}")


if __name__ == "__main__":
    main()
