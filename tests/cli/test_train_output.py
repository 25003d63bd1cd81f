"""What `sentiment train` prints with an MLflow server: lines a user can act on, no dead links."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import sentiment
from tests.support.processes import ServerProcess, free_port, http_ok

pytestmark = pytest.mark.slow


@pytest.fixture
def tracking_server(tmp_path: Path, migrated_store_template: Path) -> Iterator[str]:
    """An MLflow server on a copy of a migrated store (a new one costs the server seconds)."""
    shutil.copyfile(migrated_store_template, tmp_path / "server.db")
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination", str(tmp_path / "server-artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {"MLFLOW_TRACKING_URI": None, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with ServerProcess(command, env, tmp_path / "mlflow-server.log", cwd=tmp_path) as server:
        server.wait_ready(http_ok(f"http://127.0.0.1:{port}/health"), 90, "mlflow server")
        yield f"http://127.0.0.1:{port}"


def test_embedded_prefect_run_prints_no_dead_links(
    store_env: dict[str, str], migrated_prefect_home: Path, tmp_path: Path, tracking_server: str
) -> None:
    env = store_env | {"MLFLOW_TRACKING_URI": tracking_server}
    result = sentiment("train", "--champion", env=env, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The embedded Prefect server is gone when the command ends; MLflow's own links and
    # waits duplicate what the summary says.
    for noise in ("View at", "/runs/flow-run/", "View run", "View experiment", "Waiting up to"):
        assert noise not in output, output
    # What the user can use stays: the domain lines and the summary.
    assert "held-out metrics on" in output
    assert "registered sentiment-classifier version 1" in output
    assert "champion decision: promoted" in output
    assert "registered version 1" in result.stdout
