"""The serving app imports only what it needs before its first request (issue 15).

The port opens as soon as the app is built; the registry client and scikit-learn are imported by
the model watcher in the background, and nothing of training (Prefect, matplotlib, the flows)
ever is. Against a tracking server the API does not import MLflow at all: it finds and
downloads its champion with a small REST client (`serving.registry_client`). Checked in fresh
interpreters, where `sys.modules` shows exactly what was imported. Against a local SQLite store
it reads MLflow's tables itself (`serving.sqlite_registry`): no MLflow there either.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sentiment_mlops import registry
from sentiment_mlops.process import configure_process
from sentiment_mlops.settings import Settings
from tests.serving.helpers import MODEL_NAME, MlflowStore, log_model
from tests.support.processes import ServerProcess, free_port, http_ok
from tests.support.served_app import SERVED_APP_PRELUDE

# Never in a serving process: training and plotting.
TRAINING_ONLY = ("prefect", "matplotlib", "sentiment_mlops.flows", "sentiment_mlops.core.plots")
# Not before the port opens: the watcher imports these in the background (pandas and numpy
# come with scikit-learn; the drift check's pandas is imported only where it runs).
LOADED_LATER = ("mlflow", "sklearn", "sentiment_mlops.registry", "pandas", "numpy", "scipy")

# The app served by uvicorn until its model is loaded; prints what it answered and imported.
SERVE_APP = (
    SERVED_APP_PRELUDE
    + """
answers = {
    "health": httpx.get(f"{url}/health").json(),
    "predict": httpx.post(f"{url}/predict", json={"text": "A wonderful film"}).json(),
    "modules": sorted(sys.modules),
    "built": built_modules,
}
print(json.dumps(answers))
server.should_exit = True
thread.join(60)  # the app's shutdown stops its threads, as `sentiment serve` does on SIGTERM
"""
)


def _serve(env: dict[str, str], cwd: Path) -> tuple[dict[str, Any], str]:
    """SERVE_APP's answers in a fresh interpreter, and everything it printed."""
    env = {name: value for name, value in env.items() if name != "MLFLOW_REGISTRY_URI"}
    result = subprocess.run(
        # faulthandler: a crash in the served process prints every thread's stack here.
        [sys.executable, "-X", "faulthandler", "-c", SERVE_APP, str(free_port())],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1]), result.stdout + result.stderr


def _matching(modules: list[str], unwanted: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == u or m.startswith(u + ".") for u in unwanted)]


@pytest.fixture(scope="module")
def proxying_server(
    mlflow_store: MlflowStore,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_store_template: Path,
) -> Iterator[str]:
    """A real tracking server that proxies its artifacts (`--serve-artifacts`, as the stack's),
    with the session's model logged through it and registered as the champion."""
    root = tmp_path_factory.mktemp("proxying-server")
    shutil.copyfile(migrated_store_template, root / "server.db")  # no migrations to wait for
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {
        "MLFLOW_TRACKING_URI": None,
        "MLFLOW_REGISTRY_URI": None,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    url = f"http://127.0.0.1:{port}"
    with ServerProcess(command, env, root / "mlflow-server.log", cwd=root) as server:
        server.wait_ready(http_ok(f"{url}/health"), 300, "mlflow server")
        settings = Settings(_env_file=None, mlflow_tracking_uri=url)  # type: ignore[call-arg]
        configure_process(settings)  # the model is logged through the process's store
        client = registry.make_client(settings)
        run_id, uri = log_model(
            client, registry.ensure_experiment(client, settings), mlflow_store.model
        )
        version = registry.register_version(client, MODEL_NAME, uri, run_id, {}).version
        registry.promote(client, MODEL_NAME, version, "champion")
        assert client.get_model_version_download_uri(MODEL_NAME, version).startswith(
            "mlflow-artifacts:"
        )
        yield url


@pytest.mark.slow
def test_served_from_a_tracking_server_mlflow_is_never_imported(
    proxying_server: str, tmp_path: Path
) -> None:
    password = "tracking-pass-31"  # sent as MLflow sends it (basic auth); never printed
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": proxying_server,
        "MODEL_NAME": MODEL_NAME,
        "MODEL_ALIAS": "champion",
        "PREDICTION_LOG_URL": "off",
        "LOG_LEVEL": "DEBUG",
        "MLFLOW_TRACKING_USERNAME": "serving",
        "MLFLOW_TRACKING_PASSWORD": password,
    }
    answers, output = _serve(env, tmp_path)
    assert _matching(answers["built"], TRAINING_ONLY + LOADED_LATER) == []
    assert answers["health"]["model_version"] == "1", answers["health"]
    assert answers["predict"]["sentiment"] == "positive"
    assert answers["predict"]["model_version"] == "1"
    assert (
        _matching(answers["modules"], ("mlflow", "sentiment_mlops.registry", *TRAINING_ONLY)) == []
    )
    assert password not in output


@pytest.mark.slow  # a server process: over a second of CPU
def test_served_from_a_sqlite_store_mlflow_is_never_imported(
    mlflow_store: MlflowStore, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **{k: v for k, v in mlflow_store.env(PREDICTION_LOG_URL="off").items() if v is not None},
    }
    answers, _ = _serve(env, tmp_path)
    # Building the app imports nothing of training or the model: the port opens at once.
    assert _matching(answers["built"], TRAINING_ONLY + LOADED_LATER) == []
    assert "sentiment_mlops.serving.app" in answers["built"]
    assert answers["health"]["model_version"] is not None, answers["health"]
    assert answers["predict"]["sentiment"] == "positive"
    unwanted = ("mlflow", "sentiment_mlops.registry", *TRAINING_ONLY)
    assert _matching(answers["modules"], unwanted) == []
