"""How long after an alias move every replica serves the new champion, with the reload fan-out.

Benchmark, not a test. Trains a champion on the real IMDb reviews into a temporary SQLite
MLflow, starts a real `mlflow server` on it (webhooks enabled), a fresh PostgreSQL database and
`--replicas` API processes (`run_server`, one worker each) with `RELOAD_NOTIFY_URL` on that
database, polling the alias only every 600 s so that only the webhook and the fan-out can
explain a switch. MLflow's webhook reaches replica 0 alone, as behind a load balancer.

Baseline, same run: one more API process without the fan-out, following a second registered
model (its own webhook), its alias moved between the fan-out's moves, so that both see the
machine alike: a single replica's webhook reload. Each of `--moves` rounds sets the alias once
(the clock starts just before `set_registered_model_alias`) and polls `/model-info` of every
replica until it reports the new version.

    uv run python bench/fanout.py [--moves 20] [--replicas 3] [--data PATH]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from serve import DEFAULT_DATA, MODEL_NAME, RUN_SERVER, free_port, start, train_champion
from webhook import new_version, start_tracking_server

BASELINE_MODEL = "bench-single-replica"
POSTGRES = os.environ.get("SENTIMENT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=20, help="alias moves to time")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"{args.data}: not found (the IMDb reviews; see bench/README.md)")
    import psycopg

    root = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    database = f"bench_fanout_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
        try:
            base, _, _ = POSTGRES.rpartition("/")
            run(root, args.data, args.moves, args.replicas, f"{base}/{database}")
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            shutil.rmtree(root, ignore_errors=True)


def run(root: Path, data: Path, moves: int, replicas: int, notify_url: str) -> None:
    from sentiment_mlops import registry
    from sentiment_mlops.serving.webhooks import register_webhook
    from sentiment_mlops.settings import Settings

    load_before = f"{os.getloadavg()[0]:.2f}"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODEL_"))}
    stored = train_champion(root, data)
    server, tracking = start_tracking_server(root, stored["MLFLOW_TRACKING_URI"], inherited)
    secret = secrets.token_urlsafe(24)
    settings = Settings(_env_file=None, mlflow_tracking_uri=tracking, webhook_secret=secret)  # type: ignore[call-arg]
    client = registry.make_client(settings)
    client.create_registered_model(BASELINE_MODEL)
    client.set_registered_model_alias(
        BASELINE_MODEL, "champion", new_version(client, BASELINE_MODEL)
    )
    common = {
        **inherited,
        "MLFLOW_TRACKING_URI": tracking,
        "WEBHOOK_SECRET": secret,
        "MODEL_RELOAD_INTERVAL": "600",
        "PREDICTION_LOG_URL": "off",
        "API_HOST": "127.0.0.1",
    }
    fanned = {"MODEL_NAME": MODEL_NAME, "RELOAD_NOTIFY_URL": notify_url}
    processes, urls = [], []
    try:
        for name, extra in [("single", {"MODEL_NAME": BASELINE_MODEL})] + [
            (f"replica-{i}", fanned) for i in range(replicas)
        ]:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            env = {**common, **extra, "API_PORT": str(port)}
            process, _ = start(
                [sys.executable, "-c", RUN_SERVER], env, root / f"{name}.log", f"{url}/health"
            )
            processes.append(process)
            urls.append(url)
        single, fleet = urls[0], urls[1:]
        for model, url in ((BASELINE_MODEL, single), (MODEL_NAME, fleet[0])):
            register_webhook(
                settings.model_copy(
                    update={"model_name": model, "webhook_url": f"{url}/webhooks/mlflow"}
                )
            )
        _wait_listening(fleet)
        time.sleep(2)  # past the server's webhook cache TTL
        baseline, receiver, converged = [], [], []
        for _ in range(moves):
            baseline.append(_move(client, BASELINE_MODEL, [single])[0])
            time.sleep(1)
            times = _move(client, MODEL_NAME, fleet)
            receiver.append(times[0])
            converged.append(max(times))
            time.sleep(1)
    finally:
        for process in [*processes, server]:
            process.terminate()
            process.wait(20)
    print(f"{moves} alias moves each (set alias -> /model-info reports the version), "
          f"{replicas} replicas behind one webhook address:")  # fmt: skip
    _row("single replica, webhook only (baseline)", baseline)
    _row("fan-out: the replica MLflow calls", receiver)
    _row(f"fan-out: all {replicas} replicas", converged)
    lags = [c - r for c, r in zip(converged, receiver, strict=True)]
    _row("fan-out: the last replica after the receiver", lags)
    within = sum(t <= 2.0 for t in converged)
    print(f"  all replicas within 2 s of the alias change: {within}/{moves}")
    load_after = f"{os.getloadavg()[0]:.2f}"
    print(f"load average at start {load_before}, at end {load_after} ({os.cpu_count()} cores)")


def _wait_listening(urls: Sequence[str]) -> None:
    deadline = time.monotonic() + 60
    while not all(httpx.get(f"{u}/model-info").json()["reload_fanout"]["listening"] for u in urls):
        if time.monotonic() > deadline:
            raise SystemExit("the replicas do not listen for reload notices after 60 s")
        time.sleep(0.1)


def _move(client: Any, model: str, urls: Sequence[str]) -> list[float]:
    """Move `model`'s champion to a new version; seconds until each replica serves it."""
    version = new_version(client, model)
    seen: dict[str, float] = {}
    with httpx.Client(timeout=5) as http:
        started = time.monotonic()
        client.set_registered_model_alias(model, "champion", version)
        while len(seen) < len(urls):
            for url in urls:
                if url not in seen and http.get(f"{url}/model-info").json()["version"] == version:
                    seen[url] = time.monotonic() - started
            if time.monotonic() - started > 60:
                raise SystemExit(f"{model} version {version} not served everywhere after 60 s")
            time.sleep(0.01)
    return [seen[url] for url in urls]


def _row(what: str, times: list[float]) -> None:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"  {what:<46} min {ordered[0]:.2f}  p50 {statistics.median(ordered):.2f}  "
          f"p95 {p95:.2f}  max {ordered[-1]:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
