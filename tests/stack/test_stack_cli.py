"""`sentiment stack up/status/down` as a user meets them: URLs and timings printed, every service
healthy, PID files, logs, an env file to source, loopback-only listeners, no second stack."""

from __future__ import annotations

import stat

import psutil
import pytest

from sentiment_mlops.stack.process import ProcessRecord
from tests.stack.helpers import SERVICES, RunningStack, output, status_rows

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
    for name in SERVICES - {"api"}:
        assert "│ healthy │" in rows[name], result.stdout
    # The API's row says what its /health says: a model version, or none loaded yet.
    if health.status_code == 200:
        assert f"│ healthy, model v{health.json()['model_version']} │" in rows["api"]
    else:
        assert "│ up, no model loaded (503) │" in rows["api"], (health, result.stdout)


def test_pid_files_logs_and_private_state(stack: RunningStack) -> None:
    state = stack.state()

    assert set(state["services"]) == SERVICES
    for name, service in state["services"].items():
        assert (stack.stack_dir / f"{name}.pid").read_text().strip() == str(service["pid"])
        assert service["log"] == str(stack.stack_dir / "logs" / f"{name}.log")
    for name in ("state.json", "secrets.json", "env"):
        mode = stat.S_IMODE((stack.stack_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name}: {oct(mode)}"
    env_file = (stack.stack_dir / "env").read_text()
    assert f"export MLFLOW_TRACKING_URI={stack.mlflow_url}" in env_file
    assert f"export AWS_ENDPOINT_URL={stack.s3_url}" in env_file


def test_every_service_listens_on_loopback_only(stack: RunningStack) -> None:
    listening = []
    for service in stack.state()["services"].values():
        process = ProcessRecord(service["pid"], service["create_time"]).process()
        assert process is not None
        for member in [process, *process.children(recursive=True)]:
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
