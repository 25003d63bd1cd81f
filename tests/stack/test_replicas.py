"""Three API replicas behind HAProxy on one stack, under bounded load (a few client threads on
loopback, each bounded in requests and time): a killed replica costs no request, a rolling
restart of all replicas costs none, and `stack status` shows each replica with HAProxy's view.

One stack with STACK_API_REPLICAS=3 serves every stack test here (started once for the
module); HAProxy's config is checked by `haproxy -c` without a stack.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sentiment_mlops import registry
from sentiment_mlops.settings import StackSettings
from sentiment_mlops.stack import haproxy, services
from sentiment_mlops.stack.secrets import load_or_create_secrets
from tests.stack.conftest import running_stack
from tests.stack.helpers import (
    RunningStack,
    clean_environment,
    output,
    status_cells,
    status_rows,
    write_params,
)
from tests.support.cli import sentiment_here
from tests.support.processes import wait_until

REPLICAS = ("api-1", "api-2", "api-3")
MODEL = "sentiment-classifier"
REVIEW = {"text": "A wonderful, moving film with brilliant acting and a story that stays."}


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack with three API replicas and a champion they all serve."""
    settings = {
        "STACK_API_REPLICAS": "3",
        # One MLflow worker: the three API processes are this stack's load on two cores.
        "STACK_MLFLOW_WORKERS": "1",
        "STACK_START_TIMEOUT": "600",  # a busy machine (CI runs several jobs at once)
        # No polling worth the name: a new champion reaches the replicas through the webhook.
        "MODEL_RELOAD_INTERVAL": "600",
    }
    with running_stack(tmp_path_factory, **settings) as stack:
        params = write_params(tmp_path_factory.mktemp("replicas"), "small", max_features=200)
        trained = stack.sentiment("train", "--champion", "--params", str(params))
        assert trained.returncode == 0, output(trained)
        wait_until(lambda: all_serve(stack), 300, "every replica serving the champion")
        yield stack


class Load:
    """Client threads posting predictions to the balancer until stopped, each bounded in
    requests and seconds; every outcome kept as (monotonic start, status or error)."""

    def __init__(self, url: str, threads: int = 3, requests: int = 3000, seconds: float = 120):
        self.url, self.requests, self.deadline = url, requests, time.monotonic() + seconds
        self.outcomes: list[tuple[float, int | str]] = []
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        wait_until(lambda: len(self.outcomes) >= 20, 30, "the first answers under load")
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            for _ in range(self.requests):
                if self.stopped.is_set() or time.monotonic() > self.deadline:
                    return
                started = time.monotonic()
                try:
                    outcome: int | str = client.post(f"{self.url}/predict", json=REVIEW).status_code
                except httpx.HTTPError as error:
                    outcome = f"{type(error).__name__}: {error}"
                self.outcomes.append((started, outcome))

    def failures(self, since: float = 0.0) -> list[tuple[float, int | str]]:
        return [(t, o) for t, o in self.outcomes if t >= since and o != 200]


def replica_rows(stack: RunningStack) -> dict[str, list[str]]:
    """The status rows of the balancer and the replicas, as cells."""
    result = stack.sentiment("stack", "status", env=stack.env)
    rows = status_rows(result.stdout, {"api", *REPLICAS})
    return {name: status_cells(row) for name, row in rows.items()}


def all_serve(stack: RunningStack) -> bool:
    """Every replica serves a model and HAProxy sends it requests."""
    rows = replica_rows(stack)
    return all(
        name in rows and "healthy, model v" in rows[name][4] and "HAProxy: UP" in rows[name][4]
        for name in REPLICAS
    )


def pids(stack: RunningStack) -> dict[str, int]:
    return {name: int(cells[2]) for name, cells in replica_rows(stack).items() if name != "api"}


@pytest.mark.stack
@pytest.mark.timeout(1200)  # the first pays for the stack's start and a training
def test_status_shows_the_balancer_and_each_replica_serving(replicated: RunningStack) -> None:
    rows = replica_rows(replicated)

    assert set(rows) == {"api", *REPLICAS}, rows
    assert rows["api"][4].startswith("healthy, model v"), rows["api"]
    assert rows["api"][5] == f"{replicated.api_url}/docs"
    for name in REPLICAS:
        assert rows[name][1] == "RUNNING" and rows[name][4].endswith("; HAProxy: UP"), rows[name]
        assert rows[name][5] != replicated.api_url  # a port of its own
    # Each replica answers on its own port, and the balancer sends requests to all three.
    with httpx.Client(timeout=10) as client:
        served = {client.post(f"{replicated.api_url}/predict", json=REVIEW).status_code}
        for name in REPLICAS:
            assert client.get(f"{rows[name][5]}/health").status_code == 200
    assert served == {200}


@pytest.mark.stack
@pytest.mark.timeout(1200)  # the first pays for the stack's start and a training
def test_a_killed_replica_costs_no_request(replicated: RunningStack) -> None:
    before = pids(replicated)
    with Load(replicated.api_url) as load:
        os.kill(before["api-2"], signal.SIGKILL)
        killed = time.monotonic()
        # supervisord starts it again; HAProxy sends it requests once it serves the champion.
        wait_until(
            lambda: pids(replicated)["api-2"] != before["api-2"] and all_serve(replicated),
            180,
            "api-2 restarted and serving",
            interval=0.5,
        )
        time.sleep(1)  # requests to the restarted replica too
    after_check = load.failures(since=killed + haproxy.CHECK_SECONDS)
    print(f"{len(load.outcomes)} requests; failed before HAProxy's check: {load.failures()}")

    assert after_check == [], after_check
    assert load.failures() == []  # the retries covered the check interval as well
    assert len([t for t, _ in load.outcomes if t > killed]) > 10


@pytest.mark.stack
@pytest.mark.timeout(1200)  # the first pays for the stack's start and a training
def test_three_replicas_converge_on_a_new_champion_under_load(replicated: RunningStack) -> None:
    # The replicas poll the alias only every 600 s here: MLflow's webhook, through HAProxy to
    # one replica, and that replica's notice to the others are all that can move them.
    client = replicated.mlflow()
    champion = client.get_model_version_by_alias(MODEL, "champion")
    new = registry.register_version(client, MODEL, champion.source, champion.run_id, {}).version
    urls = [cells[5] for name, cells in replica_rows(replicated).items() if name != "api"]
    with Load(replicated.api_url) as load:
        client.set_registered_model_alias(MODEL, "champion", new)
        moved = time.monotonic()
        wait_until(
            lambda: all(_served(url) == new for url in urls), 300, f"every replica serving v{new}"
        )
        print(f"3 replicas serve v{new} {time.monotonic() - moved:.2f} s after the alias moved")
        time.sleep(1)

    assert load.failures() == [], load.failures()[:10]
    assert len([t for t, _ in load.outcomes if t > moved]) > 10


def _served(url: str) -> str | None:
    try:
        return httpx.get(f"{url}/health", timeout=5).json().get("model_version")
    except (httpx.HTTPError, ValueError):
        return None


@pytest.mark.stack
@pytest.mark.timeout(1200)  # the first pays for the stack's start and a training
def test_a_rolling_restart_of_every_replica_costs_no_request(replicated: RunningStack) -> None:
    before = pids(replicated)
    with Load(replicated.api_url) as load:
        restarted = replicated.sentiment("stack", "restart", "api", env=replicated.env)
    after = pids(replicated)

    assert restarted.returncode == 0, output(restarted)
    assert all(after[name] != before[name] for name in REPLICAS), (before, after)
    assert load.failures() == [], load.failures()[:10]
    assert len(load.outcomes) > 50
    assert all_serve(replicated)


def test_bad_replica_counts_are_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One count in a real `sentiment` process, as a user runs it; the others through Typer's
    runner in this process (the same exit code and stderr, without a new interpreter each)."""
    for value in ("0", "17", "three"):
        env = {"STACK_DIR": str(tmp_path), "STACK_API_REPLICAS": value}
        if value == "17":
            result = RunningStack(tmp_path, ("", "", ""), {}).sentiment(
                "stack", "status", env=clean_environment() | env
            )
            returncode, stderr = result.returncode, result.stderr
        else:
            invoked = sentiment_here("stack", "status", env=env, monkeypatch=monkeypatch)
            returncode, stderr = invoked.exit_code, invoked.stderr
        assert returncode == 2, stderr
        [line] = stderr.strip().splitlines()
        assert line.startswith("error: STACK_API_REPLICAS: "), line


def test_the_balancer_config_is_valid_and_checks_each_replica(tmp_path: Path) -> None:
    executable = haproxy.binary()
    if executable is None:
        pytest.skip(f"HAProxy is not installed: {haproxy.INSTALL_HINT}")
    settings = StackSettings(stack_dir=tmp_path / ".stack", api_port=18000)
    path = haproxy.write_config(settings, {"api-1": 18001, "api-2": 18002})

    checked = subprocess.run([executable, "-c", "-f", str(path)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stderr
    text = path.read_text()
    assert "bind 127.0.0.1:18000" in text
    assert "option httpchk GET /health\n" in text and "option httpchk GET /health/live" in text
    # Each replica in both backends, checked every 500 ms.
    assert text.count("server api-1 127.0.0.1:18001") == text.count("server api-2 ") == 2
    assert "default-server check inter 500ms fall 2 rise 1" in text


def test_a_stack_deep_in_the_file_system_gets_a_runtime_socket_haproxy_takes(
    tmp_path: Path,
) -> None:
    """A UNIX socket's path has ~100 bytes: a project folder deep in the file system (as
    pytest-xdist's temporary folders are) must not stop HAProxy from starting."""
    executable = haproxy.binary()
    if executable is None:
        pytest.skip(f"HAProxy is not installed: {haproxy.INSTALL_HINT}")
    deep = tmp_path / ("a-long-folder-name-" * 4) / "project"
    settings = StackSettings(stack_dir=deep / ".stack", api_port=18000)
    path = haproxy.write_config(settings, {"api-1": 18001})

    checked = subprocess.run([executable, "-c", "-f", str(path)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stderr
    socket = haproxy.socket_path(settings)
    assert len(str(socket)) <= 97 and f"stats socket {socket} " in path.read_text()
    assert socket.parent.stat().st_mode & 0o777 == 0o700


def test_with_one_replica_the_balancer_is_still_in_front(tmp_path: Path) -> None:
    settings = StackSettings(stack_dir=tmp_path / ".stack", api_port=18000)
    specs = services.api_services(settings, load_or_create_secrets(settings))

    assert [spec.name for spec in specs] == ["api", "api-1"]
    assert specs[0].command[0].endswith("haproxy") and specs[0].url == f"{settings.api_url}/docs"
    assert specs[1].port not in (None, settings.api_port)
    assert "--register-webhook" in specs[1].command
    port_option = specs[1].command.index("--port")
    assert specs[1].command[port_option + 1] == str(specs[1].port)
