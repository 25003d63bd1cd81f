"""Prefect's local mode, started early and quietly.

Without `PREFECT_API_URL`, Prefect starts a temporary API server the first time a flow runs:
10-20 s here, spent after all our imports. We start the same server (same command and
environment as Prefect's `SubprocessASGIServer`) at the very start of the command instead, so it
warms up while MLflow and scikit-learn import and the data loads, and we point this process at
it. Its database lives in `PREFECT_HOME` inside the project; once it has been migrated for the
installed Prefect version, later starts skip the migration and block registration (~5 s).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

_READY_TIMEOUT_S = 90.0


class LocalPrefectServer:
    """A temporary Prefect API server on 127.0.0.1 for the lifetime of one command."""

    def __init__(self, home: Path) -> None:
        self.home = home.resolve()
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._migrated_marker = self.home / f".migrated-prefect-{metadata.version('prefect')}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        """Start the server process; returns at once (see `wait_ready`)."""
        self.home.mkdir(parents=True, exist_ok=True)
        env = os.environ | {
            "PREFECT_HOME": str(self.home),
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        if self._migrated_marker.exists() and "PREFECT_API_DATABASE_CONNECTION_URL" not in env:
            env |= {
                "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
                "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
            }
        command = [sys.executable, "-m", "uvicorn", "--factory"]
        command += ["prefect.server.api.server:create_app", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = _READY_TIMEOUT_S) -> None:
        """Block until the API answers its health check; raise if the process died."""
        import httpx

        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError("the local Prefect server exited while starting")
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        self._migrated_marker.touch()
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"the local Prefect server did not start within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
