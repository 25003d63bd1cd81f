"""Throughput and latency of the serving API against `mlflow models serve` on the same champion.

Benchmark, not a test. Trains a champion on real IMDb reviews into a temporary SQLite MLflow,
starts our service (`run_server`, one worker) and `mlflow models serve --env-manager local`
(one worker) on it, and load-tests each in turn on 127.0.0.1 with `wrk` (Debian package `wrk`)
and a Lua script that posts real reviews of about 1,000 characters: concurrency 1, 8 and 64,
then `/predict/batch` with 64 texts at concurrency 1 and 8. Prints requests/s, p50, p99 and
errors, the ratio ours/mlflow, the batch speedup in texts/s against single calls at the same
concurrency, and each service's time to healthy.

    uv run python bench/serve.py [--duration 20] [--data PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "imdb_reviews.csv"
MODEL_NAME = "sentiment-classifier"
CONCURRENCY = (1, 8, 64)
BATCH_CONCURRENCY = (1, 8)
BATCH = 64
TEXT_CHARS = 1000
RUN_SERVER = "from sentiment_mlops.serving.server import run_server; run_server()"
# Collects per-request latencies and errors in every wrk thread; prints one JSON line at the end.
WRK_SCRIPT = """
local bodies = {}
local counter = 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  counter = math.random(#bodies)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  counter = counter % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[counter])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "seconds": %f, "p50_us": %d, "p99_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass(frozen=True)
class Load:
    """One wrk run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def train_champion(root: Path, data: Path) -> dict[str, str]:
    """Train on `data`, register and promote version 1; returns the environment for serving."""
    from sentiment_mlops import registry
    from sentiment_mlops.core.data import load_reviews
    from sentiment_mlops.core.evaluation import evaluate
    from sentiment_mlops.core.model import train_model
    from sentiment_mlops.core.params import load_params
    from sentiment_mlops.core.split import split_reviews
    from sentiment_mlops.settings import Settings

    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "ARTIFACT_LOCATION": str(root / "artifacts"),
        "MODEL_NAME": MODEL_NAME,
        "MODEL_ALIAS": "champion",
    }
    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    registry.configure_mlflow(settings)
    client = registry.make_client(settings)
    params = load_params(PROJECT_ROOT / "params.yaml")
    reviews = load_reviews(data)
    split = split_reviews(reviews.texts, reviews.labels, params.data)
    model = train_model(split, params)
    metrics = evaluate(model, split.test_texts, split.test_labels).metrics
    import pandas as pd

    record = registry.RunRecord(
        params=params.flat(),
        metrics=metrics.as_dict(),
        training_frame=pd.DataFrame({"text": split.train_texts, "label": split.train_labels}),
        data_source=str(data),
        input_example=list(split.test_texts[:2]),
        figures={},
        tags={"purpose": "bench-serve"},
    )
    run_id, uri = registry.log_training_run(
        client, registry.ensure_experiment(client, settings), model, record
    )
    version = registry.register_version(client, MODEL_NAME, uri, run_id, {}).version
    registry.promote(client, MODEL_NAME, version)
    print(f"champion: version {version}, f1 {metrics.f1:.3f} on {len(split.test_texts)} reviews")
    return env


def write_bodies(root: Path, data: Path) -> dict[str, Path]:
    """Request bodies, one JSON document a line, for each endpoint."""
    import pandas as pd

    texts = [t[:TEXT_CHARS] for t in pd.read_csv(data)["text"] if len(t) >= TEXT_CHARS][:500]
    lines = {
        "ours": [json.dumps({"text": t}) for t in texts],
        "mlflow": [json.dumps({"inputs": [t]}) for t in texts],
        "batch": [
            json.dumps({"texts": (texts * 2)[i : i + BATCH]}) for i in range(0, len(texts), 16)
        ],
    }
    paths = {}
    for name, bodies in lines.items():
        paths[name] = root / f"bodies-{name}.jsonl"
        paths[name].write_text("\n".join(bodies) + "\n")
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict[str, str], log: Path, health: str) -> tuple[Any, float]:
    """Start a server; returns the process and the seconds until `health` answered 200."""
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=log.parent
    )
    while time.monotonic() - started < 180:
        if process.poll() is not None:
            raise SystemExit(f"{command[:3]} exited; see {log}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(health, timeout=1).status_code == 200:
                return process, time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{health} not healthy after 180 s; see {log}")


def wrk(url: str, bodies: Path, script: Path, connections: int, seconds: float) -> Load:
    threads, whole_seconds = min(connections, 2), max(1, round(seconds))
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{whole_seconds}s", "--timeout", "10s",
         "-s", str(script), url, "--", str(bodies)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = next(x for x in result.stdout.splitlines() if x.startswith("WRK "))
    raw = json.loads(line[4:])
    return Load(
        requests_per_s=raw["requests"] / raw["seconds"],
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=raw["errors"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per wrk run")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    root = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        run(root, args.data, args.duration)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, data: Path, duration: float) -> None:
    load_before = f"{os.getloadavg()[0]:.2f}"  # other work on the machine skews every number
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODEL_"))}
    env = {**inherited, **train_champion(root, data), "MLFLOW_DISABLE_TELEMETRY": "true"}
    bodies = write_bodies(root, data)
    script = root / "post.lua"
    script.write_text(WRK_SCRIPT)

    ours_port, mlflow_port = free_port(), free_port()
    ours_env = {**env, "API_HOST": "127.0.0.1", "API_PORT": str(ours_port), "API_WORKERS": "1"}
    ours, ours_ready = start(
        [sys.executable, "-c", RUN_SERVER],
        ours_env, root / "ours.log", f"http://127.0.0.1:{ours_port}/health",
    )  # fmt: skip
    mlflow, mlflow_ready = start(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{MODEL_NAME}@champion",
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port), "-w", "1"],
        env, root / "mlflow.log", f"http://127.0.0.1:{mlflow_port}/health",
    )  # fmt: skip
    try:
        ours_url, mlflow_url = (f"http://127.0.0.1:{p}" for p in (ours_port, mlflow_port))
        check_same_answers(ours_url, mlflow_url, bodies)
        for url, name in ((f"{ours_url}/predict", "ours"), (f"{mlflow_url}/invocations", "mlflow")):
            wrk(url, bodies[name], script, 8, 2)  # warm up
        results: dict[tuple[str, int], Load] = {}
        for connections in CONCURRENCY:
            results["ours", connections] = wrk(
                f"{ours_url}/predict", bodies["ours"], script, connections, duration
            )
            results["mlflow", connections] = wrk(
                f"{mlflow_url}/invocations", bodies["mlflow"], script, connections, duration
            )
        batch = {
            connections: wrk(
                f"{ours_url}/predict/batch", bodies["batch"], script, connections, duration
            )
            for connections in BATCH_CONCURRENCY
        }
    finally:
        for process in (ours, mlflow):
            process.terminate()
            process.wait(20)
    report(results, batch, ours_ready, mlflow_ready, duration)
    load_after = f"{os.getloadavg()[0]:.2f}"
    print(f"load average at start {load_before}, at end {load_after} ({os.cpu_count()} cores)")


def check_same_answers(ours: str, mlflow: str, bodies: dict[str, Path]) -> None:
    """Both services serve the same model: same positive probability for a review."""
    text = json.loads(bodies["ours"].read_text().splitlines()[0])["text"]
    mine = httpx.post(f"{ours}/predict", json={"text": text}).json()
    theirs = httpx.post(f"{mlflow}/invocations", json={"inputs": [text]}).json()
    label = {"positive": 1, "negative": 0}[mine["sentiment"]]
    assert theirs["predictions"] == [label], (mine, theirs)


def report(
    results: dict[tuple[str, int], Load],
    batch: dict[int, Load],
    ours_ready: float,
    mlflow_ready: float,
    duration: float,
) -> None:
    print(f"\nPOST one review (~{TEXT_CHARS} chars), {duration:g} s per run, one worker each")
    print(f"{'conc':>4} {'service':<7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for connections in CONCURRENCY:
        for name in ("ours", "mlflow"):
            r = results[name, connections]
            print(
                f"{connections:>4} {name:<7} {r.requests_per_s:>8.0f} {r.p50_ms:>8.2f} "
                f"{r.p99_ms:>8.2f} {r.errors:>6}"
            )
        ratio = (
            results["ours", connections].requests_per_s
            / results["mlflow", connections].requests_per_s
        )
        print(f"{'':>4} ratio ours/mlflow: {ratio:.2f}x")
    print(f"\n/predict/batch of {BATCH} texts against single /predict at the same concurrency")
    for connections, load in batch.items():
        texts = load.requests_per_s * BATCH
        single = results["ours", connections].requests_per_s
        print(
            f"{connections:>4} batch {load.requests_per_s:>6.0f} req/s = {texts:>6.0f} texts/s, "
            f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, errors {load.errors}; "
            f"single {single:.0f} texts/s; speedup {texts / single:.1f}x"
        )
    print("  (at concurrency > 1 single calls are micro-batched too, which narrows the gap)")
    print(
        f"time to healthy (process start to /health 200): ours {ours_ready:.1f} s, "
        f"mlflow models serve {mlflow_ready:.1f} s"
    )


if __name__ == "__main__":
    main()
