"""Issue 15's table in one run: each serving row beside its baseline, for two source trees.

Benchmark, not a test; `bench/serve.py --limits` runs it. Trains a champion on the real IMDb
reviews into a temporary SQLite MLflow, then measures, for our service started from this
checkout ("after") and, with `--before-src DIR`, from another source tree such as `main`'s
("before", via PYTHONPATH, same interpreter and packages):

- `/predict` req/s and p99 at c=8 (wrk, ~1,000-character reviews), against an empty FastAPI
  endpoint that parses the same JSON body into a pydantic model and returns a small JSON
  (`bench/empty_app.py`, same uvicorn options, one worker);
- `/predict/batch` texts/s (64 texts a request, c=8), against in-process `predict_proba` on the
  same batches in this process (one core);
- process start to `/health` 200 (median of 3 alternating starts), against a fresh
  interpreter that imports MLflow and does a bare `mlflow.sklearn.load_model` of the version;
- a forced reload (`POST /admin/reload` after registering a new version of the same model),
  median of `--reloads`, against `mlflow.sklearn.load_model` of that version in this process;
- RSS of the worker after load, against the bare loading process's;
- start and RSS again with the champion found through a real `mlflow server` on the same store
  (the API's REST client: no MLflow in the API), against the same bare load;
- the webhook switch, with `--webhook-rounds N` (> 0): `bench/webhook.py`'s measurement.

The two services are measured alternately (before, after, before, ...) so that drift in the
machine's load hits both alike; every line prints the ratio to its baseline.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from serve import (
    BATCH,
    MODEL_NAME,
    Load,
    free_port,
    service_env,
    start,
    start_api,
    start_empty_app,
    wrk,
)

ADMIN_TOKEN = "bench-admin-token"
STARTS = 3  # starts of each service, alternating; the median is reported
# A fresh interpreter timing a bare MLflow load; prints seconds and its RSS in MB.
BARE_LOAD = """
import time; started = time.monotonic()
import mlflow.sklearn
model = mlflow.sklearn.load_model("models:/%s/1")
elapsed = time.monotonic() - started
rss = int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
print(elapsed, rss)
"""


@dataclass
class Service:
    """Our service started from one source tree, and what was measured on it."""

    name: str
    src: str | None
    rows: dict[str, float]
    port: int = 0
    process: Any = None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_limits(
    root: Path,
    env: dict[str, str],
    bodies: dict[str, Path],
    script: Path,
    duration: float,
    before_src: str | None,
    reloads: int,
) -> dict[str, tuple[float, ...]]:
    """Measure every row; returns {row: (baseline, before?, after)}."""
    services = [Service("after", None, {})]
    if before_src:
        services.insert(0, Service("before", before_src, {}))
    base = service_env(env, ADMIN_TOKEN=ADMIN_TOKEN)
    baseline: dict[str, float] = {}

    # Baselines that need no service: a bare MLflow load in a fresh process, in-process proba.
    bare = subprocess.run(
        [sys.executable, "-c", BARE_LOAD % MODEL_NAME],
        env=base, capture_output=True, text=True, check=True, cwd=root,
    )  # fmt: skip
    seconds, rss = map(float, bare.stdout.split()[-2:])
    baseline["start_s"], baseline["rss_mb"] = seconds, rss
    baseline["batch_texts_s"], baseline["reload_s"] = in_process(env, bodies["batch"])

    starts: dict[str, list[float]] = {service.name: [] for service in services}
    for attempt in range(STARTS):  # start each in turn; the last start stays up
        for service in services:
            process, port, ready = start_api(root, base, service.name, service.src)
            starts[service.name].append(ready)
            if attempt < STARTS - 1:
                process.terminate()
                process.wait(20)
                continue
            service.rows["start_s"] = statistics.median(starts[service.name])
            service.rows["rss_mb"] = rss_mb(process.pid)
            service.port, service.process = port, process
    print("starts, s:", {name: [round(x, 2) for x in times] for name, times in starts.items()})
    over_http = starts_over_http(root, base, services)
    for service in services:
        service.rows["start_http_s"], service.rows["rss_http_mb"] = over_http[service.name]
    baseline["start_http_s"], baseline["rss_http_mb"] = baseline["start_s"], baseline["rss_mb"]

    empty, empty_port = start_empty_app(root, base)
    try:
        empty_url = f"http://127.0.0.1:{empty_port}/predict"
        wrk(empty_url, bodies["ours"], script, 8, 2)  # warm up
        for service in services:
            wrk(f"http://127.0.0.1:{service.port}/predict", bodies["ours"], script, 8, 2)
        loads: dict[str, list[Load]] = {"empty": []}
        for _ in range(2):  # alternate: drift in the machine's load hits every service alike
            loads["empty"].append(wrk(empty_url, bodies["ours"], script, 8, duration))
            for service in services:
                url = f"http://127.0.0.1:{service.port}"
                loads.setdefault(service.name, []).append(
                    wrk(f"{url}/predict", bodies["ours"], script, 8, duration)
                )
                loads.setdefault(service.name + "-batch", []).append(
                    wrk(f"{url}/predict/batch", bodies["batch"], script, 8, duration)
                )
        baseline["predict_rps"] = statistics.mean(x.requests_per_s for x in loads["empty"])
        baseline["p99_ms"] = max(x.p99_ms for x in loads["empty"])
        for service in services:
            runs = loads[service.name]
            service.rows["predict_rps"] = statistics.mean(x.requests_per_s for x in runs)
            service.rows["p99_ms"] = max(x.p99_ms for x in runs)
            batch = loads[service.name + "-batch"]
            service.rows["batch_texts_s"] = statistics.mean(x.requests_per_s for x in batch) * BATCH
            errors = sum(x.errors for x in runs + batch)
            if errors:
                print(f"{service.name}: {errors} wrk errors")
        for service in services:
            service.rows["reload_s"] = forced_reloads(
                env, f"http://127.0.0.1:{service.port}", reloads
            )
            service.rows["rss_after_reloads_mb"] = rss_mb(service.process.pid)
    finally:
        for process in [empty, *(s.process for s in services)]:
            process.terminate()
            process.wait(20)
    rows = {}
    for row in (
        "predict_rps", "p99_ms", "batch_texts_s", "start_s", "reload_s", "rss_mb",
        "start_http_s", "rss_http_mb",
    ):  # fmt: skip
        rows[row] = (baseline[row], *(s.rows[row] for s in services))
    rows["rss_after_reloads_mb"] = (
        baseline["rss_mb"],
        *(s.rows["rss_after_reloads_mb"] for s in services),
    )
    return rows


def starts_over_http(
    root: Path, env: dict[str, str], services: list[Service]
) -> dict[str, tuple[float, float]]:
    """Median start to `/health` 200 and the RSS then, the champion found through a real
    `mlflow server` on the same store (the API's REST client path, no MLflow imported)."""
    port = free_port()
    server_env = {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server, _ = start(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         env["MLFLOW_TRACKING_URI"], "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        server_env, root / "mlflow-server.log", f"http://127.0.0.1:{port}/health",
    )  # fmt: skip
    measured: dict[str, list[tuple[float, float]]] = {service.name: [] for service in services}
    try:
        for _ in range(STARTS):
            for service in services:
                process, _, ready = start_api(
                    root, {**env, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"},
                    f"{service.name}-http", service.src,
                )  # fmt: skip
                measured[service.name].append((ready, rss_mb(process.pid)))
                process.terminate()
                process.wait(20)
    finally:
        server.terminate()
        server.wait(20)
    print("starts over http, (s, MB):", measured)
    return {
        name: (statistics.median(s for s, _ in runs), statistics.median(m for _, m in runs))
        for name, runs in measured.items()
    }


def in_process(env: dict[str, str], batches: Path) -> tuple[float, float]:
    """predict_proba texts/s on the batch bodies, and the median bare load of version 1 (s)."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("MLFLOW_")})
    import mlflow.sklearn
    import sklearn

    loads = []
    for _ in range(4):
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            model = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/1", dst_path=folder)
        loads.append(time.perf_counter() - started)
    texts = [json.loads(line)["texts"] for line in batches.read_text().splitlines()]
    model.predict_proba(texts[0])  # builds the vocabulary table
    gc.collect()
    gc.freeze()  # as the service does after a load: the collector skips the loaded heap
    done, started = 0, time.perf_counter()
    # The checks the service skips too (ServedModel._predict_proba): the model's own cost.
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        while time.perf_counter() - started < 5:
            for batch in texts:
                model.predict_proba(batch)
                done += len(batch)
    return done / (time.perf_counter() - started), statistics.median(loads[1:])


def forced_reloads(env: dict[str, str], url: str, rounds: int) -> float:
    """Median seconds of `POST /admin/reload` that loads a newly registered version."""
    from sentiment_mlops import registry
    from sentiment_mlops.settings import Settings

    settings = Settings(_env_file=None, mlflow_tracking_uri=env["MLFLOW_TRACKING_URI"])  # type: ignore[call-arg]
    client = registry.make_client(settings)
    first = registry.get_version(client, MODEL_NAME, "1")
    times = []
    for _ in range(rounds):
        assert first.run_id is not None and first.source is not None
        version = registry.register_version(client, MODEL_NAME, first.source, first.run_id, {})
        registry.promote(client, MODEL_NAME, version.version, "champion")
        started = time.perf_counter()
        response = httpx.post(
            f"{url}/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
        )
        times.append(time.perf_counter() - started)
        assert response.json()["outcome"] == "loaded", response.text
    return statistics.median(times)


LABELS = {  # row: (what, its baseline)
    "predict_rps": ("/predict req/s, c=8", "empty FastAPI endpoint"),
    "p99_ms": ("/predict p99 ms, c=8", "empty FastAPI endpoint"),
    "batch_texts_s": (f"/predict/batch texts/s ({BATCH}/req, c=8)", "in-process predict_proba"),
    "start_s": ("start -> /health 200, s", "fresh process: bare mlflow.sklearn.load_model"),
    "reload_s": ("forced reload (new version), s", "mlflow.sklearn.load_model in-process"),
    "rss_mb": ("RSS after load, MB", "fresh process after bare load"),
    "rss_after_reloads_mb": ("RSS after the reloads, MB", "fresh process after bare load"),
    "start_http_s": ("start -> /health 200, mlflow server, s", "bare load from SQLite"),
    "rss_http_mb": ("RSS after load, mlflow server, MB", "fresh process after bare load"),
}


def report_limits(rows: dict[str, tuple[float, ...]], before: bool) -> None:
    names = ["before", "after"] if before else ["after"]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nIssue 15, one run (ratio = service / baseline); load average now {load}")
    header = f"{'row':<44} {'baseline':>9} " + " ".join(f"{n:>8} {'ratio':>6}" for n in names)
    print(header + "   baseline is")
    for row, values in rows.items():
        label, what = LABELS[row]
        cells = " ".join(f"{v:>8.2f} {v / values[0]:>5.2f}x" for v in values[1:])
        print(f"{label:<44} {values[0]:>9.2f} {cells}   {what}")


def webhook_rounds(data: Path, rounds: int) -> Any:
    """bench/webhook.py's measurement (it trains its own champion behind an MLflow server)."""
    import webhook

    root = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    webhook.run(root, data, rounds)
