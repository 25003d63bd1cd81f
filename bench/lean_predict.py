"""CPU per `ServedModel.predict` call: the lean scoring path against scikit-learn's, one run.

Benchmark, not a test. Fits the params.yaml pipeline on the project's training split, builds
two ServedModels of it: one on the lean path (`core/lean_scorer.py`, what the API now uses),
one forced onto scikit-learn's `predict_proba` with its checks (the path before, still used for
other pipeline shapes). Times calls of 1, 8 and 64 held-out reviews, and a batch of 8 split
into 7 + 1 (what canary serving does when one request of a micro-batch goes to the
challenger), interleaving both paths round by round, alternating which goes first. Prints the
median CPU (thread time) microseconds per call and per text, then what the 7 + 1 split costs
against one call of 8 on each path (1.00: a canary split costs nothing more). It prints the load
average before and after: on a shared machine the numbers are upper bounds.

    uv run python bench/lean_predict.py [--data PATH] [--rounds 5] [--calls 200]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sentiment_mlops.core.data import load_reviews
from sentiment_mlops.core.model import train_model
from sentiment_mlops.core.params import load_params
from sentiment_mlops.core.split import split_reviews
from sentiment_mlops.model_ref import ModelRef
from sentiment_mlops.serving.served_model import ServedModel, validate_model

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "imdb_reviews.csv"
SIZES = (1, 8, 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200, help="calls per size and round")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"error: {args.data}: data file not found (pass --data PATH)")
    params = load_params(PROJECT_ROOT / "params.yaml")
    reviews = load_reviews(args.data)
    split = split_reviews(reviews.texts, reviews.labels, params.data)
    model = train_model(split, params)
    ref = ModelRef(name="bench", version="1", run_id=None)
    lean = ServedModel(model, ref, validate_model(model), {}, datetime.now(UTC))
    old = ServedModel(model, ref, lean.labels, {}, datetime.now(UTC))
    old.__dict__["_lean"] = None  # the scikit-learn path, as before the lean one
    assert (lean.scoring_path, old.scoring_path) == ("lean", "sklearn")
    held_out = split.test_texts.tolist()
    chars = statistics.mean(map(len, held_out))

    def batches(size: int) -> list[list[str]]:
        return [
            [held_out[(i * size + j) % len(held_out)] for j in range(size)]
            for i in range(args.calls)
        ]

    cases: dict[str, tuple[int, Callable[[ServedModel, list[str]], object]]] = {
        f"{size} text{'s' * (size > 1)}": (size, lambda served, texts: served.predict(texts))
        for size in SIZES
    }
    cases["8 as 7 + 1"] = (
        8,
        lambda served, texts: (served.predict(texts[:7]), served.predict(texts[7:])),
    )
    load_before = _load_average()
    gc.freeze()  # as the server does after a load: the model is out of the collector's reach
    timings: dict[tuple[str, str], list[float]] = {}
    paths = [("sklearn", old), ("lean", lean)]
    for _ in range(args.rounds):
        for case, (size, call) in cases.items():
            work = batches(size)
            paths.reverse()  # neither path always runs second (warm caches, collections)
            for path, served in paths:
                samples = timings.setdefault((case, path), [])
                for texts in work:
                    tick = time.thread_time()
                    call(served, texts)
                    samples.append(time.thread_time() - tick)
    print(f"ServedModel.predict, {args.calls} calls x {args.rounds} rounds, {chars:.0f} chars/text")
    print(f"load average before: {load_before}, after: {_load_average()}")
    print(
        f"{'call':<12} {'sklearn µs':>10} {'lean µs':>8} {'saved µs':>8} "
        f"{'lean/sklearn':>12} {'lean µs/text':>12}"
    )
    for case, (size, _) in cases.items():
        before = statistics.median(timings[case, "sklearn"])
        after = statistics.median(timings[case, "lean"])
        print(
            f"{case:<12} {before * 1e6:10.0f} {after * 1e6:8.0f} "
            f"{(before - after) * 1e6:8.0f} {after / before:12.2f} {after * 1e6 / size:12.0f}"
        )
    split = {
        path: statistics.median(timings["8 as 7 + 1", path])
        / statistics.median(timings["8 texts", path])
        for path in ("sklearn", "lean")
    }
    print(
        f"7 + 1 against one call of 8: sklearn {split['sklearn']:.2f}x, lean {split['lean']:.2f}x"
    )


def _load_average() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
