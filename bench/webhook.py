"""How long a new champion takes to be served through the MLflow webhook, against loading it.

Benchmark, not a test. Trains a champion on the real IMDb reviews into a temporary SQLite MLflow,
starts a real `mlflow server` on it (webhooks enabled) and our service (`run_server`, one worker,
polling the alias only every 300 s, so that only the webhook can explain a switch), registers the
webhook, then moves `champion` to a new version `--rounds` times and times each move until
`/health` reports the new version. Baseline, same run: loading and validating the same model
version in this process, the least work the service must do for a switch. Artifacts are local
files here; with S3 behind the tracking server, add the download.

    uv run python bench/webhook.py [--rounds 8] [--data PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from serve import DEFAULT_DATA, MODEL_NAME, RUN_SERVER, free_port, start, train_champion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="alias moves to time")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"{args.data}: not found (the IMDb reviews; see bench/README.md)")
    root = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    try:
        run(root, args.data, args.rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def start_tracking_server(
    root: Path, backend_uri: str, inherited: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    """`mlflow server` on the store, delivering webhooks to local addresses; with its URL."""
    from cryptography.fernet import Fernet

    port = free_port()
    server_env = {
        **inherited,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "MLFLOW_WEBHOOK_CACHE_TTL": "1",  # how soon a new webhook is seen, not delivery time
    }
    server, _ = start(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        server_env, root / "mlflow-server.log", f"http://127.0.0.1:{port}/health",
    )  # fmt: skip
    return server, f"http://127.0.0.1:{port}"


def new_version(client: Any, name: str, model_of: str = MODEL_NAME) -> str:
    """A new version of `name` on version 1 of `model_of` (a server needs its model id)."""
    first = client.get_model_version(model_of, "1")
    model_id = first.source.removeprefix("models:/")
    created = client.create_model_version(
        name, source=first.source, run_id=first.run_id, model_id=model_id
    )
    return str(created.version)


def run(root: Path, data: Path, rounds: int) -> None:
    from sentiment_mlops import registry
    from sentiment_mlops.serving.served_model import validate_model
    from sentiment_mlops.serving.webhooks import register_webhook
    from sentiment_mlops.settings import Settings

    load_before = f"{os.getloadavg()[0]:.2f}"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODEL_"))}
    stored = train_champion(root, data)
    server, tracking = start_tracking_server(root, stored["MLFLOW_TRACKING_URI"], inherited)
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    secret = secrets.token_urlsafe(24)
    api_env = {
        **inherited,
        "MLFLOW_TRACKING_URI": tracking,
        "MODEL_NAME": MODEL_NAME,
        "WEBHOOK_SECRET": secret,
        "MODEL_RELOAD_INTERVAL": "300",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(api_port),
    }
    service, _ = start(
        [sys.executable, "-c", RUN_SERVER], api_env, root / "api.log", f"{api}/health"
    )
    try:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            mlflow_tracking_uri=tracking,
            model_name=MODEL_NAME,
            webhook_secret=secret,
            webhook_url=f"{api}/webhooks/mlflow",
        )
        register_webhook(settings)
        time.sleep(2)  # past the server's webhook cache TTL
        client = registry.make_client(settings)

        loads = []
        for _ in range(rounds + 1):  # the first one imports and warms up: not counted
            started = time.perf_counter()
            champion = registry.get_alias(client, MODEL_NAME, "champion")
            validate_model(registry.load_model(client, champion))
            loads.append(time.perf_counter() - started)
        loads = loads[1:]

        switches, promotes = [], []
        for _ in range(rounds):
            version = new_version(client, MODEL_NAME)
            started = time.monotonic()
            registry.promote(client, MODEL_NAME, str(version), "champion")
            promotes.append(time.monotonic() - started)
            while httpx.get(f"{api}/health", timeout=5).json()["model_version"] != str(version):
                if time.monotonic() - started > 60:
                    raise SystemExit(f"version {version} not served after 60 s; see {root}")
                time.sleep(0.01)
            switches.append(time.monotonic() - started)
            time.sleep(1)
    finally:
        for process in (service, server):
            process.terminate()
            process.wait(20)
    print(f"{rounds} alias moves through the webhook (promote -> /health shows the version):")
    print("  each  " + " ".join(f"{s:.2f}" for s in switches) + " s")
    print(f"  min {min(switches):.2f}  median {statistics.median(switches):.2f}  "
          f"max {max(switches):.2f} s")  # fmt: skip
    # The service logs "loaded in X s" per switch: its share of each move.
    log = (root / "api.log").read_text()
    served = [float(x) for x in re.findall(r"loaded in ([0-9.]+) s", log)][1:]  # not the start
    print(f"  of which promote() (3 registry calls) median {statistics.median(promotes):.2f} s, "
          f"the service's load + validate median {statistics.median(served):.2f} s")  # fmt: skip
    low, mid, high = min(loads), statistics.median(loads), max(loads)
    print(f"baseline, load + validate that version in this process: median {mid:.2f} s "
          f"(min {low:.2f}, max {high:.2f})")  # fmt: skip
    load_after = f"{os.getloadavg()[0]:.2f}"
    print(f"load average at start {load_before}, at end {load_after} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
