"""Startup with the tracking server down, then a real `mlflow server` delivering a webhook."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from sentiment_mlops import registry
from sentiment_mlops.serving.webhooks import register_webhook
from tests.serving.helpers import (
    MODEL_NAME,
    WEBHOOK_SECRET,
    MlflowStore,
    mlflow_server,
    run_cli,
    run_service,
    wait_until,
)
from tests.support.processes import free_port


@pytest.mark.slow
def test_unreachable_mlflow_then_server_up_then_webhook_reload(
    mlflow_store: MlflowStore, tmp_path: Path
) -> None:
    db = tmp_path / "server.db"
    shutil.copy(mlflow_store.db, db)  # its artifacts stay where the session store put them
    tracking_port = free_port()
    tracking_uri = f"http://127.0.0.1:{tracking_port}"
    env = mlflow_store.env(
        MLFLOW_TRACKING_URI=tracking_uri,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        MLFLOW_HTTP_REQUEST_TIMEOUT="3",
        # Long, so that only the webhook can explain a fast reload.
        MODEL_RELOAD_INTERVAL="120",
    )
    with run_service(env, tmp_path) as service:
        http = httpx.Client(base_url=service.url, timeout=5)
        # The port opens with MLflow down: startup does not wait for a model (if it did,
        # /health would not answer before the server below starts).
        first = wait_until(lambda: http.get("/health"), timeout=30)
        print(f"/health answered {time.monotonic() - service.started:.2f} s after the start")
        assert first.status_code == 503
        assert http.get("/health/live").status_code == 200
        assert http.post("/predict", json={"text": "Good film"}).status_code == 503
        wait_until(lambda: http.get("/model-info").json()["last_reload_error"], timeout=60)
        assert http.get("/model-info").json()["last_reload_error"]["stage"] == "lookup"

        with mlflow_server(db, tracking_port, tmp_path) as server_url:
            # The startup backoff is capped at 5 s: an uncapped one would have grown past
            # this bound (6x the cap) while MLflow was down.
            up = time.monotonic()
            wait_until(lambda: http.get("/health").status_code == 200, timeout=30)
            print(f"model served {time.monotonic() - up:.2f} s after MLflow came up")
            assert http.get("/health").json()["model_version"] == "1"

            settings = mlflow_store.settings(
                mlflow_tracking_uri=server_url, webhook_url=f"{service.url}/webhooks/mlflow"
            )
            webhook_id = register_webhook(settings)
            assert register_webhook(settings) == webhook_id  # idempotent
            client = registry.make_client(settings)
            assert client.test_webhook(webhook_id).success  # answered, ignored
            # Through a server, a `models:/<id>` source needs its model_id too.
            version = client.create_model_version(
                MODEL_NAME,
                source=mlflow_store.model_uri,
                run_id=mlflow_store.run_id,
                model_id=mlflow_store.model_uri.removeprefix("models:/"),
            ).version
            registry.promote(client, MODEL_NAME, str(version), "champion")
            promoted = time.monotonic()
            # Well within the 120 s poll interval: only the webhook explains the switch.
            # bench/webhook.py measures how fast.
            wait_until(
                lambda: http.get("/health").json()["model_version"] == str(version),
                timeout=30,
                interval=0.02,
            )
            latency = time.monotonic() - promoted
            print(f"alias change to served through the webhook: {latency:.2f} s")
            assert WEBHOOK_SECRET not in service.output()

            # The console command reports where MLflow will call, with the URL's credentials
            # masked: a basic-auth proxy password in WEBHOOK_URL must not reach a terminal.
            password = "proxy-pass-77"
            url_with_credentials = service.url.replace("://", f"://hook:{password}@")
            command_env = mlflow_store.env(
                MLFLOW_TRACKING_URI=server_url,
                WEBHOOK_URL=f"{url_with_credentials}/webhooks/mlflow",
            )
            registered = run_cli(command_env, tmp_path, "webhook", "register")
            assert registered.returncode == 0, registered.stderr
            assert "[REDACTED]" in registered.stdout
            assert password not in registered.stdout + registered.stderr
