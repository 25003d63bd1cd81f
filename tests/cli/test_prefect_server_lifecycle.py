"""The local Prefect server of `sentiment train` ends with the command, however it ends.

Killing the command used to leave its Prefect server (about 200 MB) running for ever, adopted by
PID 1. Real processes: the CLI as a user starts it, killed with a real signal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support.processes import wait_until

pytestmark = pytest.mark.slow

SERVER_APP = "prefect.server.api.server:create_app"


def _prefect_server(cli: psutil.Process) -> psutil.Process | None:
    for child in cli.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if SERVER_APP in child.cmdline():
                return child
    return None


def _listening(server: psutil.Process) -> bool:
    connections = server.net_connections(kind="tcp")
    return any(connection.status == psutil.CONN_LISTEN for connection in connections)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_killing_train_stops_its_prefect_server(
    store_env: dict[str, str], tmp_path: Path, signum: signal.Signals
) -> None:
    with (tmp_path / "cli.log").open("wb") as log:
        cli = subprocess.Popen(
            [sys.executable, "-m", "sentiment_mlops", "train"],
            env=os.environ | store_env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    family: list[psutil.Process] = []
    try:
        parent = psutil.Process(cli.pid)
        server = wait_until(lambda: _prefect_server(parent), 120, "the local Prefect server")
        family = [server]
        wait_until(lambda: _listening(server), 120, "the local Prefect server's port")
        family += server.children(recursive=True)

        os.kill(cli.pid, signum)
        cli.wait(timeout=120)

        # SIGTERM unwinds the command (exit code 128 + 15); SIGKILL leaves it no say.
        assert cli.returncode == (143 if signum == signal.SIGTERM else -signal.SIGKILL)
        wait_until(
            lambda: not [process for process in family if _alive(process)],
            timeout=60,
            what="the end of the Prefect server and its children",
        )
    finally:
        for process in [*family, psutil.Process(cli.pid) if cli.poll() is None else None]:
            if process is not None and _alive(process):
                process.kill()
        cli.wait(timeout=30)
