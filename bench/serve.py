"""Throughput and latency of the serving API against `mlflow models serve` on the same champion.

Benchmark, not a test. Trains a champion on real IMDb reviews into a temporary SQLite MLflow,
starts our service (`run_server`, one worker) and `mlflow models serve --env-manager local`
(one worker) on it, and load-tests each in turn on 127.0.0.1 with `wrk` (Debian package `wrk`)
and a Lua script that posts real reviews of about 1,000 characters: concurrency 1, 8 and 64,
then `/predict/batch` with 64 texts at concurrency 1 and 8. Prints requests/s, p50, p99 and
errors, the ratio ours/mlflow, the batch speedup in texts/s against single calls at the same
concurrency, and each service's time to healthy.

The prediction log: our service runs with its default log (SQLite in its folder, or
`--log-url`), and a second one with `PREDICTION_LOG_URL=off`; `/predict` at concurrency 8 is
measured on each, alternating, and the ratio printed (the goal: logging keeps >= 90%). Then a
soak of `--soak` seconds at concurrency 64 on the logging service, after which the rows in the
store must equal the predictions answered minus the drops the service counted.

    uv run python bench/serve.py [--duration 20] [--soak 60] [--log-url URL] [--data PATH]
    uv run python bench/serve.py --logging-only       # the logging runs only, no mlflow
    uv run python bench/serve.py --rollout [--before-src DIR]  # challenger shadow/canary cost
    uv run python bench/serve.py --limits [--before-src DIR] [--webhook-rounds 20]
                                                       # issue 15's table (bench/limits.py)
    uv run python bench/serve.py --request-path [--before-src DIR] [--duration 10]
                                  # its /predict rows only, with CPU per request (request_path.py)

With `--limits`, `--request-path` and `--rollout` each server under load runs on one CPU and
wrk (one thread) on another (`set_pinning`; printed first), so that a p99 is the server's own
and not the scheduler sharing two cores between wrk's threads and the server; `--no-pin` runs
them unpinned, as before. `bench/tail_latency.py` measures both ways in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
    from sentiment_mlops.process import configure_process
    from sentiment_mlops.settings import Settings

    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "ARTIFACT_LOCATION": str(root / "artifacts"),
        "MODEL_NAME": MODEL_NAME,
        "MODEL_ALIAS": "champion",
    }
    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    configure_process(settings)
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
    registry.promote(client, MODEL_NAME, version, "champion")
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


@dataclass(frozen=True)
class Pinning:
    """The CPUs of the request benchmarks' servers and of wrk (None: the scheduler's choice)."""

    server: frozenset[int] | None = None
    load: frozenset[int] | None = None

    def describe(self) -> str:
        if self.server is None or self.load is None:
            return "unpinned: servers and wrk share every core (--no-pin)"
        return (
            f"pinned: each server on CPU {sorted(self.server)}, wrk (one thread) on CPU "
            f"{sorted(self.load)}, so that p99 is the server's and not two processes taking "
            "turns on a core"
        )


# Off unless `main` turns it on: the scripts that import these helpers on their own
# (replicas.py, profile_predict.py) keep their unpinned runs.
_pinning = Pinning()


def set_pinning(pinned: bool) -> Pinning:
    """Pin the request benchmarks' servers to the first CPU this process may use and wrk to the
    second (with fewer than two: no pinning); returns the choice, for printing."""
    global _pinning
    cpus = sorted(os.sched_getaffinity(0))
    if pinned and len(cpus) >= 2:
        _pinning = Pinning(frozenset(cpus[:1]), frozenset(cpus[1:2]))
    else:
        _pinning = Pinning()
    return _pinning


def pin_server(pid: int) -> None:
    """Apply the pinning to a running server: every thread of `pid` and of its child processes
    on the servers' CPU, or back on every CPU when unpinned (threads and processes it starts
    later inherit it from their parent)."""
    _set_affinity(pid, _pinning.server or frozenset(os.sched_getaffinity(0)))


def pin_children_to_load_cpu(pid: int) -> list[int]:
    """Move the child processes of server `pid` (the shadow scorer) to wrk's CPU, leaving the
    server alone on its own: a pod with CPU to spare, where the idle-priority scorer takes what
    the other work leaves. Returns the children moved (none when unpinned)."""
    if _pinning.load is None:
        return []
    children = [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    for child in children:
        _set_affinity(child, _pinning.load)
    return children


def _set_affinity(pid: int, cpus: frozenset[int]) -> None:
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
            children = (task / "children").read_text().split()
        except (ProcessLookupError, FileNotFoundError):  # a thread that just ended
            continue
        for child in children:
            _set_affinity(int(child), cpus)


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


# The empty FastAPI endpoint (bench/empty_app.py) the request benchmarks compare against.
EMPTY_APP = [sys.executable, "-m", "uvicorn", "empty_app:app", "--log-level", "warning",
             "--no-access-log", "--host", "127.0.0.1"]  # fmt: skip


def service_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    """The request benchmarks' service environment: one worker on 127.0.0.1, no prediction
    log and no reload poll (neither is on the path measured), plus `extra`."""
    return {**env, "PREDICTION_LOG_URL": "off", "MODEL_RELOAD_INTERVAL": "3600",
            "API_HOST": "127.0.0.1", "API_WORKERS": "1", **extra}  # fmt: skip


def start_api(
    root: Path, env: dict[str, str], name: str, src: str | None
) -> tuple[Any, int, float]:
    """Our API (from this checkout, or from the source tree `src`) on a free port, logging to
    `root/name.log`; returns the process, its port and the seconds until it was healthy."""
    port = free_port()
    api_env = {**env, "API_PORT": str(port)}
    if src:
        api_env["PYTHONPATH"] = src
    process, ready = start(
        [sys.executable, "-c", RUN_SERVER],
        api_env, root / f"{name}.log", f"http://127.0.0.1:{port}/health",
    )  # fmt: skip
    pin_server(process.pid)
    return process, port, ready


def start_empty_app(root: Path, env: dict[str, str]) -> tuple[Any, int]:
    """The empty FastAPI endpoint on a free port; returns the process and its port."""
    port = free_port()
    bench_dir = str(Path(__file__).resolve().parent)
    process, _ = start(
        [*EMPTY_APP, "--port", str(port), "--app-dir", bench_dir],
        env, root / "empty.log", f"http://127.0.0.1:{port}/health",
    )  # fmt: skip
    pin_server(process.pid)
    return process, port


def wrk(url: str, bodies: Path, script: Path, connections: int, seconds: float) -> Load:
    """One wrk run; pinned (`set_pinning`), wrk runs one thread on its own CPU."""
    cpus = _pinning.load
    # Two wrk threads on one core would time each other's turns into the latencies.
    threads, whole_seconds = (1 if cpus else min(connections, 2)), max(1, round(seconds))
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{whole_seconds}s", "--timeout", "10s",
         "-s", str(script), url, "--", str(bodies)],
        capture_output=True, text=True, check=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )  # fmt: skip
    line = next(x for x in result.stdout.splitlines() if x.startswith("WRK "))
    raw = json.loads(line[4:])
    return Load(
        requests_per_s=raw["requests"] / raw["seconds"],
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=raw["errors"],
    )


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per wrk run")
    parser.add_argument("--soak", type=float, default=60.0, help="seconds of the c=64 soak")
    parser.add_argument(
        "--log-url", default=None, help="PREDICTION_LOG_URL (default: SQLite in a temp folder)"
    )
    parser.add_argument("--logging-only", action="store_true", help="skip the mlflow comparison")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rollout", action="store_true", help="the rollout's cost only")
    parser.add_argument(
        "--limits", action="store_true", help="issue 15's table only (bench/limits.py)"
    )
    parser.add_argument(
        "--request-path", action="store_true", help="/predict rows only (bench/request_path.py)"
    )
    parser.add_argument(
        "--before-src",
        help="with --limits, --request-path or --rollout: also serve from this src folder",
    )
    parser.add_argument("--reloads", type=int, default=5, help="with --limits: forced reloads")
    parser.add_argument(
        "--webhook-rounds", type=int, default=0, help="with --limits: webhook moves (0: none)"
    )
    parser.add_argument(
        "--no-pin", action="store_true",
        help="with --limits, --request-path, --rollout: servers and wrk unpinned (as before)",
    )  # fmt: skip
    parser.add_argument(
        "--scorer-cpu", choices=("server", "spare", "both"), default="server",
        help="with --rollout, pinned: the shadow scorer on the server's CPU (a one-CPU pod, the "
        "default), on wrk's (a pod with CPU to spare), or both (a second shadow server)",
    )  # fmt: skip
    parser.add_argument(
        "--unused-challenger",
        action="store_true",
        help="with --rollout: also a canary server at CANARY_PERCENT=0 (challenger held, unused)",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="with --rollout: also a second off server (an A/A pair: the machine's noise alone)",
    )
    parser.add_argument(
        "--shared-tables",
        action="store_true",
        help="with --rollout: also a canary server whose challenger uses the champion's tables",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="with --rollout: alternating rounds per server",
    )  # fmt: skip
    args = parser.parse_args()
    require_wrk()
    if args.limits or args.request_path or args.rollout:
        print(set_pinning(not args.no_pin).describe())
    root = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        if args.rollout:  # bench/rollout_cost.py: challenger shadow and canary against off
            from rollout_cost import run_rollout

            return run_rollout(
                root, args.data, args.duration, args.before_src, args.scorer_cpu,
                args.unused_challenger, args.control, args.rounds,
                args.shared_tables,
            )  # fmt: skip
        env, bodies, script = prepare(root, args.data)
        if args.request_path:
            from request_path import run_request_path

            return run_request_path(root, env, bodies, script, args.duration, args.before_src)
        if args.limits:
            from limits import report_limits, run_limits, webhook_rounds

            rows = run_limits(
                root, env, bodies, script, args.duration, args.before_src, args.reloads
            )
            report_limits(rows, args.before_src is not None)
            if args.webhook_rounds:
                webhook_rounds(args.data, args.webhook_rounds)
            return
        log_url = args.log_url or f"sqlite:///{root / 'predictions.db'}"
        if not args.logging_only:
            run(root, env, bodies, script, args.duration, log_url)
        run_logging(root, env, bodies, script, args.duration, args.soak, log_url)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def prepare(root: Path, data: Path) -> tuple[dict[str, str], dict[str, Path], Path]:
    """A champion, the request bodies and the wrk script in `root`."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "MODEL_", "PREDICTION_LOG_", "LOG_TEXTS"))
    }
    env = {**inherited, **train_champion(root, data), "MLFLOW_DISABLE_TELEMETRY": "true"}
    bodies = write_bodies(root, data)
    script = root / "post.lua"
    script.write_text(WRK_SCRIPT)
    return env, bodies, script


def run(
    root: Path,
    env: dict[str, str],
    bodies: dict[str, Path],
    script: Path,
    duration: float,
    log_url: str,
) -> None:
    load_before = f"{os.getloadavg()[0]:.2f}"  # other work on the machine skews every number

    ours_port, mlflow_port = free_port(), free_port()
    ours_env = {
        **env,
        "API_HOST": "127.0.0.1",
        "API_PORT": str(ours_port),
        "API_WORKERS": "1",
        "PREDICTION_LOG_URL": log_url,
    }
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
    """Both services serve the same model: the same label and confidence for a review (the
    model's pyfunc answers one `sentiment`/`confidence` record per text)."""
    text = json.loads(bodies["ours"].read_text().splitlines()[0])["text"]
    mine = httpx.post(f"{ours}/predict", json={"text": text}).json()
    theirs = httpx.post(f"{mlflow}/invocations", json={"inputs": [text]}).json()
    [answer] = theirs["predictions"]
    assert answer["sentiment"] == mine["sentiment"], (mine, theirs)
    assert abs(answer["confidence"] - mine["confidence"]) < 1e-9, (mine, theirs)


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


# --- the prediction log ---------------------------------------------------------------------
LOG_CONCURRENCY = 8
LOG_ROUNDS = 3  # on, off, on, off, ...: drift of the machine's load hits both alike
SOAK_CONCURRENCY = 64


def run_logging(
    root: Path,
    env: dict[str, str],
    bodies: dict[str, Path],
    script: Path,
    duration: float,
    soak: float,
    log_url: str,
) -> None:
    """`/predict` at c=8 with the log on and off (alternating), then the soak with the log on."""
    load_before = f"{os.getloadavg()[0]:.2f}"
    servers, urls, pids = [], {}, {}
    try:
        for name, url in (("on", log_url), ("off", "off")):
            port = free_port()
            server_env = {
                **env,
                "API_HOST": "127.0.0.1",
                "API_PORT": str(port),
                "API_WORKERS": "1",
                "PREDICTION_LOG_URL": url,
            }
            urls[name] = f"http://127.0.0.1:{port}"
            process, _ = start(
                [sys.executable, "-c", RUN_SERVER],
                server_env,
                root / f"log-{name}.log",
                f"{urls[name]}/health",
            )
            servers.append(process)
            pids[name] = process.pid
        for name in ("on", "off"):
            wrk(f"{urls[name]}/predict", bodies["ours"], script, LOG_CONCURRENCY, 2)  # warm up
        runs: dict[str, list[Load]] = {"on": [], "off": []}
        cpu: dict[str, list[float]] = {"on": [], "off": []}  # server CPU ms per request
        for _ in range(LOG_ROUNDS):
            for name in ("on", "off"):
                before = cpu_seconds(pids[name])
                load = wrk(
                    f"{urls[name]}/predict", bodies["ours"], script, LOG_CONCURRENCY, duration
                )
                used = cpu_seconds(pids[name]) - before
                runs[name].append(load)
                cpu[name].append(1000 * used / (load.requests_per_s * round(duration)))
        soaked = run_soak(urls["on"], bodies["ours"], script, soak, log_url)
    finally:
        for process in servers:
            process.terminate()
            process.wait(20)
    report_logging(runs, cpu, duration, soaked, log_url)
    print(f"load average at start {load_before}, at end {os.getloadavg()[0]:.2f}")


@dataclass(frozen=True)
class Soak:
    load: Load
    answered: int
    written: int
    dropped: int
    stored: int
    write_errors: int


def run_soak(url: str, bodies: Path, script: Path, seconds: float, log_url: str) -> Soak:
    """c=64 for `seconds`; then, with the queue drained, what the store holds against what the
    service answered and dropped during the soak."""
    before = drained_counts(url, log_url)
    load = wrk(f"{url}/predict", bodies, script, SOAK_CONCURRENCY, seconds)
    after = drained_counts(url, log_url)
    delta = {k: int(after[k] - before[k]) for k in after}
    return Soak(
        load,
        delta["answered"],
        delta["written"],
        delta["dropped"],
        delta["stored"],
        delta["write_errors"],
    )


def drained_counts(url: str, log_url: str) -> dict[str, float]:
    """Counters of the service and rows in its store, once its log queue is empty."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        metrics = scrape(url)
        accounted = sum(
            metrics[f"sentiment_prediction_log_{name}_total"]
            for name in ("written", "dropped", "sampled_out")
        )
        if accounted == metrics["sentiment_predictions_total"]:
            break
        time.sleep(0.2)
    else:
        print("the service's counters never added up: records lost inside the service")
    return {
        "answered": metrics["sentiment_predictions_total"],
        "written": metrics["sentiment_prediction_log_written_total"],
        "dropped": metrics["sentiment_prediction_log_dropped_total"],
        "write_errors": metrics["sentiment_prediction_log_write_errors_total"],
        "stored": count_rows(log_url),
    }


def scrape(url: str) -> dict[str, float]:
    """Each metric of /metrics summed over its labels."""
    totals: dict[str, float] = {}
    for match in re.finditer(
        r"^([a-z_]+)(?:\{[^}]*\})? (\S+)$", httpx.get(f"{url}/metrics").text, re.M
    ):
        totals[match[1]] = totals.get(match[1], 0.0) + float(match[2])
    return totals


def count_rows(log_url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from sentiment_mlops.monitoring import tables

    engine = create_engine(log_url)
    try:
        with engine.connect() as connection:
            query = select(func.count()).select_from(tables.predictions)
            return connection.execute(query).scalar_one()
    finally:
        engine.dispose()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux), all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report_logging(
    runs: dict[str, list[Load]],
    cpu: dict[str, list[float]],
    duration: float,
    soak: Soak,
    log_url: str,
) -> None:
    store = log_url.split(":", 1)[0]
    print(
        f"\nPrediction log ({store}): POST /predict at c={LOG_CONCURRENCY}, {duration:g} s per run"
    )
    print(f"{'log':<4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'CPU ms/req':>10}")
    for name in ("on", "off"):
        for r, ms in zip(runs[name], cpu[name], strict=True):
            rate, p50, p99 = r.requests_per_s, r.p50_ms, r.p99_ms
            print(f"{name:<4} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f} {r.errors:>6} {ms:>10.3f}")
    mean = {name: sum(r.requests_per_s for r in loads) / len(loads) for name, loads in runs.items()}
    ratio = mean["on"] / mean["off"]
    verdict = "ok" if ratio >= 0.9 else "BELOW the 90% goal"
    print(f"mean on/off: {mean['on']:.0f} / {mean['off']:.0f} req/s = {ratio:.1%} ({verdict})")
    per_request = {name: sum(values) / len(values) for name, values in cpu.items()}
    print(
        f"server CPU per request on/off: {per_request['on']:.3f} / {per_request['off']:.3f} ms "
        f"(+{per_request['on'] / per_request['off'] - 1:.1%}; the store's own CPU not included)"
    )
    load = soak.load
    print(
        f"\nSoak at c={SOAK_CONCURRENCY}: {load.requests_per_s:.0f} req/s, "
        f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, wrk errors {load.errors}"
    )
    lost = soak.answered - soak.dropped - soak.stored
    print(
        f"answered {soak.answered}, rows stored {soak.stored}, written {soak.written}, "
        f"dropped (counted) {soak.dropped}, write errors {soak.write_errors}; "
        f"unaccounted: {lost} ({'ok' if lost == 0 else 'RECORDS LOST'})"
    )


if __name__ == "__main__":
    # --rollout, --request-path and --limits run helpers (rollout_cost, ...) that import this
    # file as `serve`: a second copy of it, whose pinning `set_pinning` in this one (`__main__`)
    # never set, so their servers and wrk ran unpinned while "pinned" was printed. One copy.
    import serve

    serve.main()
