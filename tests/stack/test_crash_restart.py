"""A crashed service comes back by itself: supervisord restarts it, and `sentiment stack status`
shows it running again under a new PID. The crash is a SIGKILL of the MLflow server's main
process, which leaves its uvicorn workers behind holding the port unless they are cleared."""

from __future__ import annotations

import os
import re
import signal
import time

import psutil
import pytest

from tests.stack.helpers import RunningStack, output, status_rows
from tests.support.processes import wait_until

pytestmark = pytest.mark.stack


def _pid(row: str) -> int | None:
    """The PID cell of a status row (the first cell that is a number)."""
    cells = [cell.strip() for cell in row.split("│")]
    return next((int(cell) for cell in cells if cell.isdigit()), None)


def _mlflow_row(stack: RunningStack) -> str:
    result = stack.sentiment("stack", "status", env=stack.env)
    return status_rows(result.stdout).get("mlflow", output(result))


def test_a_killed_mlflow_server_is_restarted_and_status_shows_its_new_pid(
    stack: RunningStack,
) -> None:
    old_pid = _pid(_mlflow_row(stack))
    assert old_pid is not None
    old = psutil.Process(old_pid)
    old_family = [old, *old.children(recursive=True)]

    os.kill(old_pid, signal.SIGKILL)
    killed = time.monotonic()

    def restarted() -> str | None:
        row = _mlflow_row(stack)
        new_pid = _pid(row)
        back = new_pid not in (None, old_pid) and "│ RUNNING │" in row and "│ healthy │" in row
        return row if back else None

    row = wait_until(restarted, 180, "mlflow restarted and healthy", interval=0.5)
    print(f"mlflow back and healthy {time.monotonic() - killed:.1f} s after SIGKILL")
    new_pid = _pid(row)
    assert new_pid is not None

    # Nothing of the killed server is left, and the port is served by the new one.
    _, alive = psutil.wait_procs(old_family, timeout=30)
    assert alive == [], alive
    new = psutil.Process(new_pid)
    listening = {
        connection.laddr.port
        for member in [new, *new.children(recursive=True)]
        for connection in member.net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN
    }
    assert stack.ports["mlflow"] in listening
    assert stack.mlflow().search_registered_models() is not None

    # supervisord itself, as the README shows it, agrees.
    ctl = stack.supervisorctl("status", "mlflow")
    assert re.search(rf"^mlflow\s+RUNNING\s+pid {new_pid},", ctl.stdout), output(ctl)
