"""`mlflow models serve` answers one sentiment and confidence per input row for the registered
model (its pyfunc flavour, `core.scores.ScoredTexts`)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests.registry.conftest import LoggedModel
from tests.registry.scores import assert_scores, expected_scores
from tests.support.processes import ServerProcess, free_port, http_ok


@pytest.mark.slow
def test_mlflow_models_serve_invocations(logged: LoggedModel, tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(
        [
            sys.executable, "-m", "mlflow", "models", "serve",
            "-m", f"models:/registry-test-model/{logged.version}",
            "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port),
        ],
        env={
            "MLFLOW_TRACKING_URI": logged.settings.mlflow_tracking_uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
        },
        log=tmp_path / "serve.log",
    )  # fmt: skip
    try:
        server.wait_ready(http_ok(f"http://127.0.0.1:{port}/ping"), 90, "mlflow models serve")
        texts = logged.split.test_texts.tolist()[:40]
        expected = expected_scores(logged.model, texts)
        response = httpx.post(
            f"http://127.0.0.1:{port}/invocations", json={"inputs": texts}, timeout=30
        )
        assert response.status_code == 200, response.text
        assert_scores(response.json()["predictions"], expected)
        records = {"dataframe_records": [{"text": text} for text in texts]}
        response = httpx.post(f"http://127.0.0.1:{port}/invocations", json=records, timeout=30)
        assert_scores(response.json()["predictions"], expected)
    finally:
        server.stop()
