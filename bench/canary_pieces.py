"""What a canary request costs the server beyond an off one, piece by piece, in-process (CPU µs).

Benchmark, not a test. Fits the params.yaml pipeline on the reviews and loads its compact file
twice (a champion and a challenger of the same size, each with its own tables, as a canary
server holds them), then times, interleaved round by round (medians), on reviews of about
1,000 characters (what /predict sees):
- the canary's choice per request: `request_key` + `canary_bucket` (BLAKE2b of the text when
  no X-Request-Key is sent, as wrk sends none), and the per-variant counting (`answered`);
- a micro-batch of k requests scored in one call, against the same batch split as a canary
  splits it (k-1 champion texts, then 1 challenger text), once into the champion's own scorer
  again (a second call's cost alone) and once into the challenger's (a second call and a second
  model's tables in the caches).
The split's extra per request is (split - one) x the extra calls per request that
`bench/profile_rollout.py`'s servers count (0.089 at c=8 on a quiet machine).

    uv run python bench/canary_pieces.py [--rounds 9] [--calls 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scorer_cost import DEFAULT_DATA, _write_inputs
from sentiment_mlops.core.compact_scorer import CompactScorer
from sentiment_mlops.serving.rollout import canary_bucket, request_key
from sentiment_mlops.serving.rollout_counts import RolloutCounts

HEADERS = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
           (b"content-length", b"1050")]  # fmt: skip
SIZES = (2, 4, 8)
RESULTS = [{"sentiment": "positive"}]  # one request's answers, as `Rollout.observe` reads them


def _cpu_us(call: Callable[[Any], Any], inputs: list[Any]) -> float:
    call(inputs[0])
    start = time.process_time()
    for item in inputs:
        call(item)
    return (time.process_time() - start) / len(inputs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        model, texts_file = Path(folder) / "model.npz", Path(folder) / "texts.json"
        _write_inputs(args.data, model, texts_file)
        champion = CompactScorer.load(model.read_bytes(), 1e-12)
        challenger = CompactScorer.load(model.read_bytes(), 1e-12)
        texts = json.loads(texts_file.read_text())
    counts = RolloutCounts()
    singles = [[texts[i % len(texts)]] for i in range(args.calls * 10)]
    pieces: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
        "request_key + canary_bucket": (lambda t: canary_bucket(request_key(HEADERS, t)), singles),
        "counts.answered": (
            lambda _: counts.answered("challenger", 0.002, [r["sentiment"] for r in RESULTS]),
            singles,
        ),
    }
    for size in SIZES:
        batches = [[texts[(i * size + j) % len(texts)] for j in range(size)]
                   for i in range(args.calls)]  # fmt: skip
        pieces |= {
            f"{size} texts, one call": (champion.predict_proba, batches),
            f"{size} texts, split into the same scorer": (
                lambda b: (champion.predict_proba(b[:-1]), champion.predict_proba(b[-1:])),
                batches,
            ),
            f"{size} texts, split into the challenger": (
                lambda b: (champion.predict_proba(b[:-1]), challenger.predict_proba(b[-1:])),
                batches,
            ),
        }
    timings: dict[str, list[float]] = {name: [] for name in pieces}
    for _ in range(args.rounds):
        for name, (call, inputs) in pieces.items():
            timings[name].append(_cpu_us(call, inputs))
    median = {name: statistics.median(values) for name, values in timings.items()}
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print("| piece | CPU µs (median of rounds) | min-max of rounds |\n|---|---:|---:|")
    for name, value in median.items():
        low, high = min(timings[name]), max(timings[name])
        print(f"| {name} | {value:.1f} | {low:.1f}-{high:.1f} |")
    for size in SIZES:
        one = median[f"{size} texts, one call"]
        same = median[f"{size} texts, split into the same scorer"] - one
        other = median[f"{size} texts, split into the challenger"] - one
        print(f"{size} texts: a split costs {same:.1f} µs more (same scorer), {other:.1f} µs "
              f"(the challenger's tables)")  # fmt: skip


if __name__ == "__main__":
    main()
