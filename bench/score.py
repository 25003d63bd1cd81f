"""Batch scoring throughput: the local engine, the Spark engine and `/predict/batch` over HTTP,
against the model's own in-process `predict_proba`, on the same rows.

Benchmark, not a test. Trains a champion on the real IMDb reviews into a temporary SQLite
MLflow, writes `--rows` rows (the reviews repeated, with an id) as CSV, and measures in turn:

1. in-process: `predict_proba` on the texts, already in memory, in batches of `--batch-size`
   (the baseline: the model's own speed, nothing read or written);
2. local engine: `sentiment score`'s `run_scoring` CSV -> Parquet (reading, predicting,
   labelling, writing); the goal is at least 80% of the baseline's texts/s;
3. Spark engine, `local[2]`: the same through `mlflow.pyfunc.spark_udf` (the version's pyfunc
   flavour), session start-up and model download excluded (printed apart);
4. `/predict/batch`: our API (one worker, `run_server`, prediction log off) over HTTP, batches
   of MAX_BATCH_SIZE texts, one client at a time.

Then it checks that all four give every row the same label and a confidence within 1e-9 (the
issue's correctness check on 100k rows, too slow for the test suite), and exits 1 if not.

    uv run python bench/score.py [--rows 100000] [--batch-size 10000] [--data PATH] [--skip-spark]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from serve import DEFAULT_DATA, MODEL_NAME, RUN_SERVER, free_port, start, train_champion

API_BATCH = 256  # the API's default MAX_BATCH_SIZE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--skip-spark", action="store_true")
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"no reviews at {args.data}: give --data PATH")
    root = Path(tempfile.mkdtemp(prefix="bench-score-"))
    try:
        run(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, args: argparse.Namespace) -> None:
    env = train_champion(root, args.data)
    reviews = pd.read_csv(args.data)["text"].dropna()
    texts = (reviews.tolist() * (args.rows // len(reviews) + 1))[: args.rows]
    source = root / "reviews.csv"
    pd.DataFrame({"id": range(len(texts)), "text": texts}).to_csv(source, index=False)
    chars = sum(map(len, texts)) / len(texts)
    size = source.stat().st_size >> 20
    print(f"{len(texts):,} rows, {chars:,.0f} characters a review on average, {size} MB of CSV")

    results: dict[str, pd.DataFrame] = {}
    speeds: dict[str, float] = {}
    # The machine is shared, so wall-clock speed swings with other jobs (2x seen between two
    # runs of the same loop). The goal is judged on CPU time (all of this process's threads,
    # pyarrow's included), with the two alternated and each run twice, best kept.
    speeds["in-process"], results["in-process"], cpu_base = in_process(env, texts, args.batch_size)
    speeds["local engine"], results["local engine"], cpu_local = local(env, root, source, args)
    again, _, cpu_again = in_process(env, texts, args.batch_size)
    local_again, _, cpu_local_again = local(env, root, source, args)
    print(f"in-process: {speeds['in-process']:,.0f} then {again:,.0f} texts/s (wall), "
          f"{cpu_base:,.0f} then {cpu_again:,.0f} per CPU second")  # fmt: skip
    print(f"local engine: {speeds['local engine']:,.0f} then {local_again:,.0f} texts/s (wall), "
          f"{cpu_local:,.0f} then {cpu_local_again:,.0f} per CPU second")  # fmt: skip
    speeds["in-process"] = max(speeds["in-process"], again)
    speeds["local engine"] = max(speeds["local engine"], local_again)
    cpu_ratio = max(cpu_local, cpu_local_again) / max(cpu_base, cpu_again)
    if not args.skip_spark:
        speeds["spark local[2]"], results["spark local[2]"] = spark(env, root, source, args)
    speeds["/predict/batch"], results["/predict/batch"] = over_http(env, root, texts)

    baseline = speeds["in-process"]
    print(f"\n{'':<18}{'texts/s':>10}{'of in-process':>15}")
    for name, speed in speeds.items():
        print(f"{name:<18}{speed:>10,.0f}{speed / baseline:>14.0%}")
    ratio = speeds["local engine"] / baseline
    print(f"\nlocal engine at {cpu_ratio:.0%} of in-process predict_proba per CPU second "
          f"({ratio:.0%} by wall clock; goal: >= 80%)")  # fmt: skip
    check_same(results)


def _model(env: dict[str, str]):
    from sentiment_mlops import registry
    from sentiment_mlops.process import configure_process
    from sentiment_mlops.settings import Settings

    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    configure_process(settings)
    client = registry.make_client(settings)
    champion = registry.get_alias(client, MODEL_NAME, "champion")
    assert champion is not None, "no champion to score with"
    return registry.load_model(client, champion)


def in_process(
    env: dict[str, str], texts: list[str], batch_size: int
) -> tuple[float, pd.DataFrame]:
    """The model's own speed: predict_proba on texts already in memory."""
    from sentiment_mlops.core.scores import score_texts

    model = _model(env)
    started, cpu_started = time.perf_counter(), time.process_time()
    for start_row in range(0, len(texts), batch_size):
        model.predict_proba(texts[start_row : start_row + batch_size])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    scores = score_texts(model, texts)  # the labels, for the comparison (not timed)
    frame = pd.DataFrame({"sentiment": scores.sentiment, "confidence": scores.confidence})
    return len(texts) / seconds, frame, len(texts) / cpu


def local(
    env: dict[str, str], root: Path, source: Path, args: argparse.Namespace
) -> tuple[float, pd.DataFrame, float]:
    """The local engine itself (the model loaded before the clock starts), wall and CPU."""
    from sentiment_mlops.scoring.files import locate
    from sentiment_mlops.scoring.local import score_file
    from sentiment_mlops.scoring.predict import Scorer

    scorer = Scorer(_model(env), "1", "text", args.batch_size)
    target = root / "scored-local.parquet"
    target.unlink(missing_ok=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    counts = score_file(locate(str(source), None), locate(str(target), None), scorer)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    frame = pd.read_parquet(target).sort_values("id").reset_index(drop=True)
    return counts.rows / seconds, frame[["sentiment", "confidence"]], counts.rows / cpu


def spark(
    env: dict[str, str], root: Path, source: Path, args: argparse.Namespace
) -> tuple[float, pd.DataFrame]:
    """`run_scoring` with the Spark engine; its time excludes model loading and start-up."""
    from sentiment_mlops.scoring.request import ScoringRequest
    from sentiment_mlops.scoring.run import run_scoring
    from sentiment_mlops.settings import Settings

    settings = Settings(_env_file=None, spark_master="local[2]", **env)  # type: ignore[call-arg]
    target = root / "scored-spark.parquet"
    request = ScoringRequest(str(source), str(target), engine="spark", batch_size=args.batch_size)
    started = time.perf_counter()
    result = run_scoring(request, settings)
    whole = time.perf_counter() - started
    print(f"spark engine: {result.rows:,} rows in {result.seconds:.1f} s scoring, "
          f"{whole:.1f} s with model loading and Spark start-up")  # fmt: skip
    frame = pd.read_parquet(target).astype({"id": int})  # Spark reads CSV columns as text
    frame = frame.sort_values("id").reset_index(drop=True)
    return result.rows / result.seconds, frame[["sentiment", "confidence"]]


def over_http(env: dict[str, str], root: Path, texts: list[str]) -> tuple[float, pd.DataFrame]:
    port = free_port()
    server_env = {
        **os.environ,
        **env,
        "API_PORT": str(port),
        "PREDICTION_LOG_URL": "off",
        "MAX_BATCH_SIZE": str(API_BATCH),
    }
    url = f"http://127.0.0.1:{port}"
    process, _ = start(
        [sys.executable, "-c", RUN_SERVER], server_env, root / "api.log", f"{url}/health"
    )
    answers: list[dict] = []
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            started = time.perf_counter()
            for start_row in range(0, len(texts), API_BATCH):
                body = {"texts": texts[start_row : start_row + API_BATCH]}
                response = client.post("/predict/batch", json=body)
                response.raise_for_status()
                answers.extend(response.json()["predictions"])
            seconds = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
    frame = pd.DataFrame(
        {
            "sentiment": [a["sentiment"] for a in answers],
            "confidence": [a["confidence"] for a in answers],
        }
    )
    return len(texts) / seconds, frame


def check_same(results: dict[str, pd.DataFrame]) -> None:
    reference_name, reference = next(iter(results.items()))
    failed = False
    for name, frame in results.items():
        if len(frame) != len(reference):
            print(f"{name}: {len(frame):,} rows, not {len(reference):,}")
            failed = True
            continue
        labels = (frame["sentiment"].to_numpy() == reference["sentiment"].to_numpy()).all()
        gap = float(
            np.abs(frame["confidence"].to_numpy() - reference["confidence"].to_numpy()).max()
        )
        same = bool(labels) and gap <= 1e-9
        failed |= not same
        print(f"{name}: labels {'identical' if labels else 'DIFFER'}, largest confidence gap "
              f"{gap:.1e} against {reference_name}")  # fmt: skip
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
