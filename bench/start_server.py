"""Start to `/health` 200 with the champion on a tracking server, for two source trees.

Benchmark, not a test. Starts a real `mlflow server` that proxies its artifacts (as the stack's
does), trains a champion on the IMDb reviews through it, then starts the API from this checkout
("after") and, with `--before-src DIR`, from another source tree ("before", e.g. main's),
alternately, `--starts` times each. Per start: seconds to the first `/health` 200, the CPU
seconds the API process had used by then (robust on a shared machine), its RSS then, and the
median of `--reloads` forced reloads (`POST /admin/reload` after the alias moves).

    uv run python bench/start_server.py --before-src /path/to/main/src [--starts 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from serve import DEFAULT_DATA, MODEL_NAME, RUN_SERVER, free_port, start

ADMIN_TOKEN = "bench-admin-token"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_tracking_server(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    url = f"http://127.0.0.1:{port}"
    process, _ = start(command, env, root / "mlflow.log", f"{url}/health")
    return process, url


def tracking_server(root: Path, given: str | None) -> tuple[subprocess.Popen[bytes] | None, str]:
    """The server at `given`, or a new one (a fresh server's migrations take minutes here)."""
    return (None, given) if given else start_tracking_server(root)


def train_champion(url: str, data: Path) -> list[str]:
    """Train on `data` through the server; registers it as versions 1 and 2, 1 the champion."""
    from sentiment_mlops import registry
    from sentiment_mlops.core.data import load_reviews
    from sentiment_mlops.core.model import train_model
    from sentiment_mlops.core.params import load_params
    from sentiment_mlops.core.split import split_reviews
    from sentiment_mlops.process import configure_process
    from sentiment_mlops.settings import Settings

    settings = Settings(_env_file=None, mlflow_tracking_uri=url)  # type: ignore[call-arg]
    configure_process(settings)
    client = registry.make_client(settings)
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    reviews = load_reviews(data)
    split = split_reviews(reviews.texts, reviews.labels, params.data)
    model = train_model(split, params)
    import pandas as pd

    record = registry.RunRecord(
        params=params.flat(),
        metrics={"f1": 0.9},
        training_frame=pd.DataFrame(
            {"text": split.train_texts[:100], "label": split.train_labels[:100]}
        ),
        data_source=str(data),
        input_example=list(split.test_texts[:2]),
        figures={},
        tags={"purpose": "bench-start"},
    )
    run_id, uri = registry.log_training_run(
        client, registry.ensure_experiment(client, settings), model, record
    )
    versions = [registry.register_version(client, MODEL_NAME, uri, run_id, {}).version]
    versions.append(registry.register_version(client, MODEL_NAME, uri, run_id, {}).version)
    registry.promote(client, MODEL_NAME, versions[0], "champion")
    location = client.get_model_version_download_uri(MODEL_NAME, versions[0])
    print(f"registered versions {versions} at {location}")
    return versions


def api_env(url: str, port: int, src: str | None) -> dict[str, str]:
    """The API's environment: the champion on the server at `url`, no prediction log."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": url,
        "MODEL_NAME": MODEL_NAME,
        "MODEL_ALIAS": "champion",
        "PREDICTION_LOG_URL": "off",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "MODEL_RELOAD_INTERVAL": "600",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("MLFLOW_REGISTRY_URI", None)
    if src:
        env["PYTHONPATH"] = src
    return env


def one_start(
    root: Path, url: str, src: str | None, versions: list[str], reloads: int
) -> dict[str, float]:
    from sentiment_mlops import registry
    from sentiment_mlops.settings import Settings

    client = registry.make_client(Settings(_env_file=None, mlflow_tracking_uri=url))  # type: ignore[call-arg]
    registry.promote(client, MODEL_NAME, versions[0], "champion")
    port = free_port()
    env = api_env(url, port, src)
    api = f"http://127.0.0.1:{port}"
    process, ready = start(
        [sys.executable, "-c", RUN_SERVER], env, root / f"api-{port}.log", f"{api}/health"
    )
    try:
        row = {
            "start_s": ready,
            "start_cpu_s": cpu_seconds(process.pid),
            "rss_mb": rss_mb(process.pid),
        }
        times = []
        for round_ in range(reloads):
            registry.promote(client, MODEL_NAME, versions[(round_ + 1) % 2], "champion")
            began = time.monotonic()
            response = httpx.post(
                f"{api}/admin/reload",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=60,
            )
            times.append(time.monotonic() - began)
            assert response.status_code == 200, response.text
        row["reload_s"] = statistics.median(times) if times else float("nan")
        row["rss_after_reloads_mb"] = rss_mb(process.pid)
        return row
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-src", help="also start the API from this src folder")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--reloads", type=int, default=5)
    parser.add_argument("--tracking-uri", help="an MLflow server already running (proxying)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-start-") as folder:
        root = Path(folder)
        server, url = tracking_server(root, args.tracking_uri)
        try:
            versions = train_champion(url, Path(args.data))
            names = (["before"] if args.before_src else []) + ["after"]
            rows: dict[str, list[dict[str, float]]] = {name: [] for name in names}
            for _ in range(args.starts):
                for name in names:
                    src = args.before_src if name == "before" else None
                    rows[name].append(one_start(root, url, src, versions, args.reloads))
                    print(name, {k: round(v, 3) for k, v in rows[name][-1].items()}, flush=True)
        finally:
            if server is not None:
                server.terminate()
                server.wait(30)
    print(f"load average: {os.getloadavg()}")
    for key in rows[names[-1]][0]:
        line = ", ".join(
            f"{name} {statistics.median(row[key] for row in rows[name]):.3f}" for name in names
        )
        print(f"{key:>22}: {line}")


if __name__ == "__main__":
    main()
