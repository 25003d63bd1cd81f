"""Prefect's local mode, started early and quietly.

Without `PREFECT_API_URL`, Prefect starts a temporary API server the first time a flow runs:
10-20 s here, spent after all our imports. We start the same server (same uvicorn arguments
and environment as Prefect's `SubprocessASGIServer`) at the very start of the command instead,
so it warms up while MLflow and scikit-learn import and the data loads, and we point this
process at it. Its database lives in `PREFECT_HOME` inside the project; once it has been
migrated for the installed Prefect version, later starts skip the migration and block
registration (~5 s).

The server must not outlive the command, however the command ends. It runs in its own process
group, stopped as a group (with anything it started), and it holds the read end of a pipe whose
only writer is the command: when the command dies, even by SIGKILL, the kernel closes the pipe
and the server's watcher thread stops the group. Its output goes to `server.log` in its home.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

from sentiment_mlops.errors import ServiceUnavailableError

_READY_TIMEOUT_S = 90.0
# How long the server may take to shut down on SIGTERM before its group is killed.
_STOP_GRACE_S = 10.0


class LocalPrefectServer:
    """A temporary Prefect API server on 127.0.0.1 for the lifetime of one command."""

    def __init__(self, home: Path) -> None:
        self.home = home.resolve()
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.home / "server.log"
        self._lifeline: int | None = None  # write end of the pipe the server watches
        self._migrated_marker = migrated_marker(self.home)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        """Start the server process; returns at once (see `wait_ready`)."""
        self.home.mkdir(parents=True, exist_ok=True)
        env = self._environment()
        command = [sys.executable, "-m", __name__, "--factory"]
        command += ["prefect.server.api.server:create_app", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        lifeline_end, self._lifeline = os.pipe()
        try:
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(
                    command,
                    env=env,
                    stdin=lifeline_end,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        finally:
            os.close(lifeline_end)

    def _environment(self) -> dict[str, str]:
        """The server's variables: this process's, with its home and, on a migrated home, no
        migration, block registration or registration memo at start."""
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
                # The memo of the block registration imports every installed Prefect collection
                # (here prefect-kubernetes) even when the registration is off: ~0.8 CPU s a
                # start (bench/local_prefect_start.py).
                "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
            }
        return env

    def wait_ready(self, timeout: float = _READY_TIMEOUT_S) -> None:
        """Block until the API answers its health check; raise if the process died."""
        import httpx

        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise ServiceUnavailableError(
                        f"the local Prefect server exited while starting (see {self.log})"
                    )
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        self._migrated_marker.touch()
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise ServiceUnavailableError(
            f"the local Prefect server did not start within {timeout:.0f} s"
        )

    def stop(self) -> None:
        """Stop the server and whatever it started: SIGTERM to its group, SIGKILL if it hangs."""
        if self.process is None:
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        self.process = None


def migrated_marker(home: Path) -> Path:
    """The file whose presence in `home` says its database is migrated for this Prefect."""
    return home / f".migrated-prefect-{metadata.version('prefect')}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
        os.killpg(group, signum)


def _stop_group_when_parent_exits() -> None:
    """In the server: wait for EOF on stdin (the parent is gone), then stop the process group."""
    while os.read(sys.stdin.fileno(), 512):
        pass
    os.killpg(0, signal.SIGTERM)
    time.sleep(_STOP_GRACE_S)
    os.killpg(0, signal.SIGKILL)


def _serve(uvicorn_args: list[str]) -> None:
    """The server process: uvicorn with these arguments, watched by the lifeline thread."""
    import uvicorn.main

    threading.Thread(target=_stop_group_when_parent_exits, name="lifeline", daemon=True).start()
    uvicorn.main.main(uvicorn_args, prog_name="uvicorn")


if __name__ == "__main__":
    _serve(sys.argv[1:])
