"""CPU per `CompactScorer.predict_proba` call, another source tree's against this one, one run.

Benchmark, not a test. Fits the params.yaml pipeline on the reviews, writes its compact file,
then starts two worker processes that load it with `CompactScorer.load`: one importing
`sentiment_mlops` from `--before-src` (e.g. main's `src/`, the code before a change), one from
this checkout. Both time calls of 1, 2, 4, 8 and 64 reviews of about 1,000 characters (what
/predict sees), round by round, alternating which worker goes first, so that other processes'
load hits both alike. Prints the median CPU (process time) µs per call and per text and the
ratio, and the load average before and after: on a shared machine the numbers are upper bounds.

    uv run python bench/scorer_cost.py --before-src ../main/src [--rounds 7] [--calls 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "imdb_reviews.csv"
SIZES = (1, 2, 4, 8, 64)

# A worker: imports the scorer from argv[1], loads argv[2], reads "size calls" lines on stdin
# and answers each with the process time of one call (seconds), as a JSON line.
WORKER = """
import gc, json, sys, time
sys.path.insert(0, sys.argv[1])
from sentiment_mlops.core.compact_scorer import CompactScorer
import sentiment_mlops
assert sentiment_mlops.__file__.startswith(sys.argv[1]), sentiment_mlops.__file__
scorer = CompactScorer.load(open(sys.argv[2], "rb").read(), 1e-12)
texts = json.loads(open(sys.argv[3]).read())
gc.freeze()
print(json.dumps({"ready": sentiment_mlops.__file__}), flush=True)
for line in sys.stdin:
    size, calls = map(int, line.split())
    batches = [[texts[(i * size + j) % len(texts)] for j in range(size)] for i in range(calls)]
    scorer.predict_proba(batches[0])
    start = time.process_time()
    for batch in batches:
        scorer.predict_proba(batch)
    print(json.dumps((time.process_time() - start) / calls), flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-src", type=Path, required=True, help="e.g. ../main/src")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=300, help="calls per size and round")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"error: {args.data}: data file not found (pass --data PATH)")
    with tempfile.TemporaryDirectory() as folder:
        model, texts = Path(folder) / "model.npz", Path(folder) / "texts.json"
        reviews = _write_inputs(args.data, model, texts)
        print(f"{len(reviews)} reviews of 950-1,050 characters; load average {_load()}")
        workers = {
            "before": _start(args.before_src.resolve(), model, texts),
            "after": _start(PROJECT_ROOT / "src", model, texts),
        }
        timings: dict[tuple[str, int], list[float]] = {}
        for round_number in range(args.rounds):
            order = list(workers) if round_number % 2 == 0 else list(reversed(workers))
            for size in SIZES:
                calls = max(20, args.calls // max(1, size // 4))
                for name in order:
                    timings.setdefault((name, size), []).append(_ask(workers[name], size, calls))
        for worker in workers.values():
            worker.stdin.close()  # type: ignore[union-attr]
            worker.wait(timeout=30)
    print(f"load average after: {_load()}")
    print("| texts | before µs/call | after µs/call | before µs/text | after µs/text | ratio |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in SIZES:
        before = statistics.median(timings["before", size]) * 1e6
        after = statistics.median(timings["after", size]) * 1e6
        print(f"| {size} | {before:,.0f} | {after:,.0f} | {before / size:,.0f} | "
              f"{after / size:,.0f} | {after / before:.2f} |")  # fmt: skip


def _write_inputs(data: Path, model: Path, texts: Path) -> list[str]:
    """The fitted pipeline's compact file, and the reviews of about 1,000 characters."""
    from sentiment_mlops.core.compact_export import compact_bytes
    from sentiment_mlops.core.data import load_reviews
    from sentiment_mlops.core.model import build_pipeline
    from sentiment_mlops.core.params import load_params

    params = load_params(PROJECT_ROOT / "params.yaml")
    reviews = load_reviews(data)
    pipeline = build_pipeline(params).fit(reviews.texts.tolist(), reviews.labels.tolist())
    compact = compact_bytes(pipeline)
    if compact is None:
        sys.exit("error: params.yaml's pipeline has no compact file")
    model.write_bytes(compact)
    chosen = [text for text in reviews.texts.tolist() if 950 < len(text) < 1050]
    texts.write_text(json.dumps(chosen))
    return chosen


def _start(src: Path, model: Path, texts: Path) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(src), str(model), str(texts)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    print(f"worker {json.loads(worker.stdout.readline())['ready']}")  # type: ignore[union-attr]
    return worker


def _ask(worker: subprocess.Popen[str], size: int, calls: int) -> float:
    worker.stdin.write(f"{size} {calls}\n")  # type: ignore[union-attr]
    worker.stdin.flush()  # type: ignore[union-attr]
    return float(json.loads(worker.stdout.readline()))  # type: ignore[union-attr]


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
