"""A stack whose supervisord was killed (SIGKILL, the OOM killer): its services live on, holding
their ports; `sentiment stack status` says supervisord is gone and `down` still stops them all.

Two services under a real supervisord, each leading a group with a child that holds a port, as
`mlflow server` leads its uvicorn workers: the stack's own API (two uvicorn workers) and a small
web server. Needs no PostgreSQL; marked `stack` as it runs the stack's processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
from pathlib import Path

import psutil
import pytest

from sentiment_mlops.settings import StackSettings
from sentiment_mlops.stack import services
from sentiment_mlops.stack.lifecycle import Stack
from sentiment_mlops.stack.ports import port_is_free
from sentiment_mlops.stack.secrets import load_or_create_secrets
from sentiment_mlops.stack.services import ServiceSpec
from tests.support.cli import sentiment
from tests.support.processes import free_port, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def _processes_of(socket: Path) -> list[psutil.Process]:
    """Every process that supervisord started, found by what it puts in their environment."""
    url = f"unix://{socket}"
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() != psutil.STATUS_ZOMBIE and (
                process.environ().get("SUPERVISOR_SERVER_URL") == url
            ):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_down_stops_the_services_of_a_killed_supervisord(tmp_path: Path) -> None:
    settings = StackSettings(
        stack_dir=tmp_path / ".stack", api_port=free_port(), mlflow_port=free_port()
    )
    # One API replica on the API port, without the balancer in front: the test is about
    # supervisord's programs, not HAProxy.
    api = services.api_replica_service(
        settings, load_or_create_secrets(settings), 1, settings.api_port
    )
    # Registering the webhook needs the MLflow server; serving does not.
    api = dataclasses.replace(api, command=[p for p in api.command if p != "--register-webhook"])
    web_port = free_port()
    web = ServiceSpec(
        "web",
        "a web server",
        ["bash", "-c", f"python3 -m http.server {web_port} --bind 127.0.0.1 & wait"],
        {},
        f"http://127.0.0.1:{web_port}/",
    )
    stack = Stack(settings, report=lambda _: None)
    env = {"STACK_DIR": str(settings.stack_dir)}
    stack.launch([api, web])
    try:
        for spec in (api, web):
            stack.start(spec)
            stack.wait_healthy(spec)
        started = _processes_of(stack.supervisord.socket)
        assert {p.environ()["SUPERVISOR_PROCESS_NAME"] for p in started} >= {"api-1", "web"}
        supervisord = psutil.Process(int((settings.stack_dir / "supervisord.pid").read_text()))

        supervisord.send_signal(signal.SIGKILL)
        wait_until(lambda: not stack.supervisord.is_running(), 10, "supervisord gone")

        # The bug: the services live on, unsupervised, and keep the stack's ports.
        assert all(p.is_running() for p in started)
        assert not port_is_free(settings.api_port) and not port_is_free(web_port)

        status = sentiment("stack", "status", env=env, cwd=tmp_path)
        assert status.returncode == 1, status.stderr
        assert "supervisord is gone" in status.stdout
        rows = [line for line in status.stdout.splitlines() if " GONE " in line]
        assert len(rows) == 2 and any("│ api-1 " in row for row in rows), status.stdout

        down = sentiment("stack", "down", env=env, cwd=tmp_path)

        assert down.returncode == 0, down.stderr
        assert "stopped 2 service(s)" in down.stdout, down.stdout
        assert psutil.wait_procs(started, timeout=10)[1] == []
        assert _processes_of(stack.supervisord.socket) == []
        assert port_is_free(settings.api_port) and port_is_free(web_port)
        again = sentiment("stack", "status", env=env, cwd=tmp_path)
        assert "no stack has been started" in again.stdout
    finally:
        stack.down()
        for process in _processes_of(stack.supervisord.socket):  # whatever this test left
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
