"""`sentiment serve` on a port that is taken says so in one line and exits 2, before starting
the app (uvicorn alone would report "Application startup complete", then exit 3)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.serving.helpers import MlflowStore, run_cli


@pytest.mark.parametrize("how", ["flag", "env"])
def test_serve_on_a_port_in_use_fails_in_one_line(
    mlflow_store: MlflowStore, tmp_path: Path, how: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        env = mlflow_store.env(API_HOST="127.0.0.1", API_PORT=port)
        if how == "flag":
            env["API_PORT"] = "8000"  # the flag wins over the setting
        args = ["--port", port] if how == "flag" else []
        result = run_cli(env, tmp_path, "serve", *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {port} on 127.0.0.1 is in use" in lines[0]
    assert "--port" in lines[0] and "API_PORT" in lines[0]
    assert "startup" not in result.stdout + result.stderr
