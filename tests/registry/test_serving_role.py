"""The API image's install serves: `sentiment serve` with only the serving extra's libraries.

A real MLflow server (full MLflow, as the stack runs it) holds the registered champion; the API
runs on a site-packages folder with only what `uv sync --extra serving` installs (MLflow's
client without its server, no Prefect, no matplotlib), loads the model over HTTP and predicts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from sentiment_mlops import registry
from sentiment_mlops.core.labels import LABEL_NAMES
from tests.registry.conftest import LoggedModel
from tests.support.processes import ServerProcess, free_port, http_ok
from tests.support.roles import role_cli, role_site_packages

MODEL_NAME = "registry-test-model"


@pytest.mark.slow
def test_api_serves_the_champion_with_the_serving_extra_only(
    logged: LoggedModel, tmp_path: Path
) -> None:
    registry.promote(logged.tracker.client, MODEL_NAME, logged.version, "champion")
    tracking_port, api_port = free_port(), free_port()
    tracking_url, api_url = f"http://127.0.0.1:{tracking_port}", f"http://127.0.0.1:{api_port}"
    mlflow_server = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", logged.settings.mlflow_tracking_uri,
        "--host", "127.0.0.1", "--port", str(tracking_port), "--workers", "1",
    ]  # fmt: skip
    server_env = {
        "MLFLOW_TRACKING_URI": None,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    api_env = {
        "MLFLOW_TRACKING_URI": tracking_url,
        "MLFLOW_REGISTRY_URI": None,
        "MODEL_NAME": MODEL_NAME,
        "MODEL_ALIAS": "champion",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    site = role_site_packages(tmp_path / "site-packages", "serving")
    api = [*role_cli(site), "serve", "--host", "127.0.0.1", "--port", str(api_port)]
    with (
        ServerProcess(mlflow_server, server_env, tmp_path / "mlflow.log", cwd=tmp_path) as server,
        ServerProcess(api, api_env, tmp_path / "api.log", cwd=tmp_path) as service,
    ):
        server.wait_ready(http_ok(f"{tracking_url}/health"), 120, "mlflow server")
        service.wait_ready(http_ok(f"{api_url}/health"), 120, "API with the model loaded")
        texts = logged.split.test_texts.tolist()[:40]
        expected = [LABEL_NAMES[int(label)] for label in logged.model.predict(texts)]
        assert len(set(expected)) == 2
        response = httpx.post(f"{api_url}/predict/batch", json={"texts": texts}, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_version"] == logged.version
        assert [p["sentiment"] for p in body["predictions"]] == expected
        assert "Traceback" not in service.output()
