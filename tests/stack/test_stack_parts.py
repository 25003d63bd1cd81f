"""The stack's parts, without its servers: ports, URLs, secrets, health, and supervisord running,
restarting and stopping small programs.

Not marked `stack`: these need neither PostgreSQL nor any server, and run everywhere in seconds.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from pydantic import SecretStr
from supervisor.datatypes import dict_of_key_value_pairs
from typer.testing import CliRunner

from sentiment_mlops.cli import app
from sentiment_mlops.settings import StackSettings
from sentiment_mlops.stack import StackError, haproxy, provision, replicas, services
from sentiment_mlops.stack.health import poll, worker_beat_since
from sentiment_mlops.stack.lifecycle import Stack
from sentiment_mlops.stack.ports import PortsInUseError, port_is_free
from sentiment_mlops.stack.secrets import load_or_create_secrets
from sentiment_mlops.stack.services import ServiceSpec
from sentiment_mlops.stack.supervisord import render_config
from tests.deploy.k8s_checks import webhook_cache_problems
from tests.stack.helpers import status_cells, status_rows
from tests.support.processes import free_port, wait_until


def settings_for(tmp_path: Path, **values: object) -> StackSettings:
    return StackSettings(stack_dir=tmp_path / ".stack", **values)


@contextmanager
def busy_port(port: int = 0) -> Iterator[int]:
    """A port that something listens on while the block runs (a free one when `port` is 0)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        yield busy.getsockname()[1]


def test_weed_ports_are_seaweedfs_defaults_shifted_with_the_s3_port() -> None:
    assert services.weed_ports(8333) == {
        "master": 9333,
        "volume": 8080,
        "filer": 8888,
        "s3": 8333,
        "admin": 23646,
    }
    assert services.weed_ports(20000)["master"] == 21000


def test_database_urls_keep_the_admin_credentials_and_swap_driver_and_name() -> None:
    settings = StackSettings(
        postgres_url="postgresql://user:p%40ss@db:5433/postgres?sslmode=disable"
    )

    assert settings.database_url("mlflow", "psycopg") == (
        "postgresql+psycopg://user:p%40ss@db:5433/mlflow?sslmode=disable"
    )
    assert settings.database_url("prefect", "asyncpg").startswith("postgresql+asyncpg://user:")


def test_secrets_are_generated_once_kept_private_and_configured_values_win(
    tmp_path: Path,
) -> None:
    first = load_or_create_secrets(settings_for(tmp_path))
    again = load_or_create_secrets(settings_for(tmp_path))
    configured = load_or_create_secrets(
        settings_for(tmp_path, s3_access_key="mine", s3_secret_key="my-secret"),
        webhook_secret=SecretStr("my-webhook-secret"),  # the API's WEBHOOK_SECRET
    )

    assert first == again
    path = tmp_path / ".stack" / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (configured.s3_access_key, configured.s3_secret_key) == ("mine", "my-secret")
    assert configured.webhook_secret == "my-webhook-secret" != first.webhook_secret
    assert configured.webhook_encryption_key == first.webhook_encryption_key
    from cryptography.fernet import Fernet

    Fernet(first.webhook_encryption_key.encode())  # a valid key


def test_poll_waits_for_the_check_and_says_whether_it_came_true() -> None:
    calls: list[int] = []

    def third_call() -> bool:
        calls.append(1)
        return len(calls) == 3

    assert poll(third_call, timeout=60, interval=0.01) and len(calls) == 3
    assert not poll(lambda: False, timeout=0.05, interval=0.01)

    def exited() -> bool:
        raise StackError("exited while starting")

    with pytest.raises(StackError, match="exited"):  # a check may stop the wait
        poll(exited, timeout=60)


def test_the_worker_is_healthy_only_after_a_heartbeat_since_it_started() -> None:
    started = time.time()
    beat = datetime.now(UTC)
    workers = [
        {"name": "someone-else", "last_heartbeat_time": beat.isoformat()},
        {"name": services.WORKER_NAME, "last_heartbeat_time": None},
    ]
    assert not worker_beat_since(workers, started)
    old = (beat - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    workers.append({"name": services.WORKER_NAME, "last_heartbeat_time": old})
    assert not worker_beat_since(workers, started)
    fresh = beat.isoformat().replace("+00:00", "Z")
    workers.append({"name": services.WORKER_NAME, "last_heartbeat_time": fresh})
    assert worker_beat_since(workers, started)


def test_up_refuses_busy_ports_before_starting_anything(tmp_path: Path) -> None:
    with busy_port() as port:
        stack = Stack(settings_for(tmp_path, mlflow_port=port), report=lambda _: None)

        with pytest.raises(PortsInUseError, match=rf"{port} \(MLflow\); .*set STACK_MLFLOW_PORT"):
            stack.up()

    assert not (tmp_path / ".stack" / "supervisord.conf").exists()


def test_busy_ports_are_named_before_a_missing_haproxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine without HAProxy (the quick set on a newcomer's laptop) still gets the port
    error its settings cause: ports are the user's to fix first, the install hint comes next."""
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    monkeypatch.setattr(haproxy, "_SBIN", str(tmp_path / "no-sbin"))
    assert haproxy.binary() is None
    with busy_port() as port:
        stack = Stack(settings_for(tmp_path, mlflow_port=port), report=lambda _: None)

        with pytest.raises(PortsInUseError, match=rf"{port} \(MLflow\)"):
            stack.up()


def test_unreachable_postgres_is_one_clear_error(tmp_path: Path) -> None:
    url = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/postgres"

    with pytest.raises(provision.ProvisionError) as raised:
        provision.ensure_databases(settings_for(tmp_path, postgres_url=url), "mlflow")

    message = str(raised.value)
    assert "not reachable" in message and "STACK_POSTGRES_URL" in message
    assert "hunter2" not in message


def test_status_and_down_without_a_stack(tmp_path: Path) -> None:
    env = {"STACK_DIR": str(tmp_path / ".stack")}
    runner = CliRunner()

    status = runner.invoke(app, ["stack", "status"], env=env)
    down = runner.invoke(app, ["stack", "down"], env=env)

    assert status.exit_code == 1
    assert "no stack has been started" in status.output
    assert down.exit_code == 0
    assert "no stack service was running" in down.output


def test_the_supervisord_config_keeps_every_service_running_and_its_socket_private(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, postgres_url="postgresql://u:p%40ss@127.0.0.1/postgres")
    specs = services.all_services(settings, load_or_create_secrets(settings))
    config = configparser.RawConfigParser()
    config.read_string(render_config(settings, specs).replace("%%", "%"))

    stack_dir = settings.stack_dir.resolve()
    assert config["unix_http_server"]["file"] == str(stack_dir / "supervisor.sock")
    assert config["unix_http_server"]["chmod"] == "0700"
    assert not any(section.startswith("inet_http_server") for section in config.sections())
    for name in ("s3", "mlflow", "prefect", "worker", "api"):
        program = config[f"program:{name}"]
        assert program["autorestart"] == "true"
        assert program["stopasgroup"] == program["killasgroup"] == "true"
        assert program["stdout_logfile"] == str(stack_dir / "logs" / f"{name}.log")
    assert config["program:deploy"]["autorestart"] == "false"
    assert "u:p%40ss@" in config["program:mlflow"]["command"]
    # Stopped in reverse priority: clients before the servers they call, S3 last.
    priority = {
        name: int(config[f"program:{name}"]["priority"]) for name in ("s3", "mlflow", "api")
    }
    assert priority["s3"] < priority["mlflow"] < priority["api"]


def test_supervisord_starts_mlflow_with_a_webhook_cache_shorter_than_the_apis_poll(
    tmp_path: Path,
) -> None:
    """The environment supervisord gives the stack's MLflow server (the rendered config, read
    with supervisord's own parser): without MLFLOW_WEBHOOK_CACHE_TTL, MLflow caches webhook
    lists for 60 s and an API that registers its webhook at start misses a minute of alias moves."""
    settings = settings_for(tmp_path)
    specs = services.all_services(settings, load_or_create_secrets(settings))
    config = configparser.RawConfigParser()
    config.read_string(render_config(settings, specs).replace("%%", "%"))
    mlflow, api = (
        dict_of_key_value_pairs(config[f"program:{name}"]["environment"])
        for name in ("mlflow", "api-1")  # api: haproxy in front of the replicas
    )
    assert webhook_cache_problems(mlflow, api) == []


@pytest.mark.slow  # a real supervisord with three programs
def test_supervisord_restarts_a_killed_program_clears_its_group_and_down_stops_all(
    tmp_path: Path,
) -> None:
    # The program leads a group with a child, as `mlflow server` leads its uvicorn workers.
    command = ["bash", "-c", "sleep 300 & wait"]
    spec = ServiceSpec("sleeper", "a sleeper", command, {"NOTE": "50%, a=b"}, "")
    settings = settings_for(tmp_path)
    stack = Stack(settings, report=lambda _: None)
    stack.launch([spec])
    try:
        stack.start(spec)
        first = wait_until(lambda: _running(stack, "sleeper"), 30, "sleeper RUNNING")
        leader = psutil.Process(first)
        [child] = wait_until(leader.children, 10, "the sleeper's child")
        assert leader.environ()["NOTE"] == "50%, a=b"

        os.kill(first, signal.SIGKILL)

        second = wait_until(lambda: _running(stack, "sleeper", not_pid=first), 30, "a restart")
        assert psutil.wait_procs([child], timeout=10)[1] == []  # the reaper cleared the group
        assert psutil.Process(second).children() != []
    finally:
        stopped = stack.down()

    assert stopped == ["sleeper"]
    assert not psutil.pid_exists(second) or psutil.Process(second).status() == "zombie"
    assert stack.status() == [] and not stack.supervisord.is_running()
    assert {path.name for path in settings.logs.iterdir()} >= {"sleeper.log", "supervisord.log"}


def _running(stack: Stack, name: str, not_pid: int = 0) -> int | None:
    info = stack.supervisord.info(name)
    running = info["statename"] == "RUNNING" and info["pid"] != not_pid
    return info["pid"] if running else None


def _sentiment_stack(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`sentiment stack <args>` in a fresh interpreter, with only the STACK_* values given."""
    from tests.stack.helpers import SENTIMENT, clean_environment

    return subprocess.run(
        [*SENTIMENT, "stack", *args],
        env=clean_environment() | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("component", ["volume", "filer gRPC", "admin"])
def test_up_with_a_seaweedfs_port_taken_names_it_and_stack_s3_port_and_starts_nothing(
    tmp_path: Path, component: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The volume case runs `sentiment stack up` as a real process, as a user runs it; the
    others through Typer's runner in this process (the same exit code and stderr)."""
    from tests.support.cli import sentiment_here
    from tests.support.seaweed import free_s3_port

    s3_port = free_s3_port()
    taken = services.weed_listen_ports(s3_port)[component]
    stack_dir = tmp_path / ".stack"
    env = {
        "STACK_DIR": str(stack_dir),
        "STACK_S3_PORT": str(s3_port),
        "STACK_MLFLOW_PORT": str(free_port()),
        "STACK_PREFECT_PORT": str(free_port()),
        "STACK_API_PORT": str(free_port()),
        # Nothing answers here: a stack that went past the port check would fail differently.
        "STACK_POSTGRES_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
    }
    with busy_port(taken):
        if component == "volume":
            result = _sentiment_stack("up", "--detach", env=env)
            returncode, stderr = result.returncode, result.stderr
        else:
            invoked = sentiment_here("stack", "up", "--detach", env=env, monkeypatch=monkeypatch)
            returncode, stderr = invoked.exit_code, invoked.stderr

    assert returncode == 2, stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith("error: ports in use: ")
    assert f"{taken} (SeaweedFS {component})" in line
    assert "STACK_S3_PORT" in line
    suggested = int(line.rsplit("STACK_S3_PORT=", 1)[1].split()[0])
    assert all(port_is_free(p) for p in services.weed_listen_ports(suggested).values())
    assert not stack_dir.exists()


def test_readme_lists_every_port_the_stack_listens_on_with_the_setting_that_moves_it() -> None:
    from tests.support.paths import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    table = [line for line in readme.splitlines() if line.startswith("| ") and "STACK_" in line]
    ports = ("s3_port", "mlflow_port", "prefect_port", "api_port")
    defaults = {name: StackSettings.model_fields[name].default for name in ports}

    for listener in services.all_ports(StackSettings(**defaults)):
        rows = [row for row in table if re.search(rf"\b{listener.port}\b", row)]
        assert rows, f"README: no table row lists port {listener.port} ({listener.what})"
        assert any(listener.setting in row for row in rows), (listener, rows)


@pytest.mark.slow
def test_status_shows_an_api_without_a_model_as_up_not_healthy(tmp_path: Path) -> None:
    # The stack's own API (HAProxy and one replica), with nothing at its MLflow URL: it starts,
    # answers its liveness check, and its /health says 503 (no model) - which `status` must
    # show. No replica serves a model, so HAProxy lets the live one answer for itself.
    settings = settings_for(tmp_path, api_port=free_port(), mlflow_port=free_port())
    balancer, replica = services.api_services(settings, load_or_create_secrets(settings))
    # Registering the webhook needs the MLflow server; serving does not.
    command = [part for part in replica.command if part != "--register-webhook"]
    replica = dataclasses.replace(replica, command=command)
    stack = Stack(settings, report=lambda _: None)
    try:
        stack.launch([balancer, replica])
        replicas.start_api(stack, {"api": balancer, replica.name: replica}, lambda: None)

        result = _sentiment_stack("status", env={"STACK_DIR": str(settings.stack_dir)})

        assert result.returncode == 0, result.stderr
        rows = status_rows(result.stdout, {"api", "api-1"})
        assert status_cells(rows["api"])[4] == "up, no model loaded (503)", result.stdout
        assert "healthy" not in rows["api"]
        state = status_cells(rows["api-1"])[4]
        assert state == "up, no model loaded (503); HAProxy: DOWN", result.stdout
    finally:
        stack.down()
