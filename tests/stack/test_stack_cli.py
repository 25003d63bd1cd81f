"""`sentiment stack up/status/down` as a user meets them: URLs and timings printed, every service
healthy and running under supervisord (which `supervisorctl` sees too), logs, private files, an
env file to source, loopback-only listeners, no second stack."""

from __future__ import annotations

import re
import stat

import psutil
import pytest

from tests.stack.helpers import SERVICES, RunningStack, output, status_cells, status_rows

pytestmark = pytest.mark.stack


def test_up_prints_the_urls_and_start_times(stack: RunningStack) -> None:
    prefect_ui = stack.prefect_api_url.removesuffix("/api")
    for url in (stack.mlflow_url, prefect_ui, f"{stack.api_url}/docs", stack.s3_url):
        assert url in stack.up_output
    assert "ready in:" in stack.up_output
    assert "sentiment-training/local" in stack.up_output


def test_status_shows_every_service_healthy(stack: RunningStack) -> None:
    result = stack.sentiment("stack", "status", env=stack.env)
    health = stack.api_health()

    assert result.returncode == 0, output(result)
    rows = status_rows(result.stdout)
    assert set(rows) == SERVICES, result.stdout
    for name in SERVICES:
        cells = status_cells(rows[name])
        assert cells[1] == "RUNNING" and cells[2].isdigit(), result.stdout
    for name in SERVICES - {"api"}:
        assert "│ healthy │" in rows[name], result.stdout
    # The API's row says what its /health says: a model version, or none loaded yet.
    if health.status_code == 200:
        assert f"│ healthy, model v{health.json()['model_version']} │" in rows["api"]
    else:
        assert "│ up, no model loaded (503) │" in rows["api"], (health, result.stdout)


def test_supervisorctl_sees_the_services_status_shows_with_their_logs_and_private_files(
    stack: RunningStack,
) -> None:
    status = stack.sentiment("stack", "status", env=stack.env)
    ctl = stack.supervisorctl("status")

    # Exit code 3: not every program runs, as the one-shot deployment has exited (done).
    assert re.search(r"^deploy\s+EXITED", ctl.stdout, re.M), output(ctl)
    for name, row in status_rows(status.stdout).items():
        pid = status_cells(row)[2]
        assert re.search(rf"^{name}\s+RUNNING\s+pid {pid},", ctl.stdout, re.M), output(ctl)
        log = stack.stack_dir / "logs" / f"{name}.log"
        assert log.stat().st_size > 0, log
    supervisord = stack.supervisord()
    assert supervisord is not None and supervisord.is_running()
    for name in ("supervisord.conf", "secrets.json", "env"):
        mode = stat.S_IMODE((stack.stack_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name}: {oct(mode)}"
    socket_mode = stat.S_IMODE((stack.stack_dir / "supervisor.sock").stat().st_mode)
    assert socket_mode == 0o700, oct(socket_mode)
    env_file = (stack.stack_dir / "env").read_text()
    assert f"export MLFLOW_TRACKING_URI={stack.mlflow_url}" in env_file
    assert f"export AWS_ENDPOINT_URL={stack.s3_url}" in env_file


def test_every_service_listens_on_loopback_only(stack: RunningStack) -> None:
    listening = []
    processes = stack.processes()
    assert len(processes) > len(SERVICES)  # supervisord, the services and their children
    for member in processes:
        try:
            connections = member.net_connections(kind="inet")
        except psutil.Error:
            continue
        listening += [c.laddr for c in connections if c.status == psutil.CONN_LISTEN]

    assert listening
    assert {address.ip for address in listening} <= {"127.0.0.1", "::1"}, listening


def test_a_second_up_refuses_while_the_stack_runs(stack: RunningStack) -> None:
    result = stack.sentiment("stack", "up", "--detach", env=stack.env)

    assert result.returncode == 1
    assert "already running" in result.stderr


def test_databases_were_created(stack: RunningStack) -> None:
    import psycopg

    from tests.stack.conftest import PG_URL

    with psycopg.connect(PG_URL) as connection:
        names = {row[0] for row in connection.execute("SELECT datname FROM pg_database").fetchall()}
    assert set(stack.databases) <= names
