"""The stack, started once per session with `sentiment stack up --detach`, and the seed's story.

The stack gets free ports, its own folder and fresh PostgreSQL databases (dropped afterwards);
teardown runs `sentiment stack down` and checks that no process of the stack (supervisord, the
services, or a child of one) is left. Without PostgreSQL (SENTIMENT_TEST_PG_URL) the tests are
skipped, except under CI=true, where they fail: CI must never pass without having run them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psutil
import pytest

from tests.stack.helpers import (
    RunningStack,
    in_ci,
    new_ports,
    output,
    write_params,
)

PG_URL = os.environ.get("SENTIMENT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """Under CI=true a skipped stack test is a failed one, whatever skipped it."""
    outcome = yield
    report = outcome.get_result()
    is_stack_test = item.get_closest_marker("stack") is not None
    if in_ci() and is_stack_test and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"stack test skipped under CI=true ({reason})"


def _require_postgres() -> None:
    import psycopg

    try:
        psycopg.connect(PG_URL, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        message = (
            f"PostgreSQL is not reachable at SENTIMENT_TEST_PG_URL ({_hide_password(PG_URL)}): "
            f"{str(error).strip().splitlines()[0] if str(error).strip() else error}"
        )
        if in_ci():
            pytest.fail(f"{message} (CI=true: the stack tests are mandatory)")
        pytest.skip(message)


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _drop_databases(*names: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_URL, autocommit=True) as connection:
        for name in names:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The whole stack on free ports, with fresh databases; stopped, and checked gone, after."""
    with running_stack(tmp_path_factory) as running:
        yield running


@contextlib.contextmanager
def running_stack(
    tmp_path_factory: pytest.TempPathFactory, **settings: str
) -> Iterator[RunningStack]:
    """`sentiment stack up --detach` with `settings` (variables) on top of the tests' own;
    stopped, its databases dropped and its processes checked gone, after."""
    _require_postgres()
    suffix = secrets.token_hex(4)
    running = RunningStack(
        root=tmp_path_factory.mktemp("stack"),
        databases=tuple(
            f"stack_test_{suffix}_{name}" for name in ("mlflow", "prefect", "predictions")
        ),
        ports=new_ports(),
    )
    env = running.env = running.stack_env(PG_URL) | settings
    started = time.monotonic()
    try:
        result = running.sentiment("stack", "up", "--detach", env=env, timeout=600)
        if result.returncode != 0:
            pytest.fail(f"`sentiment stack up` failed:\n{output(result)}")
        running.up_seconds = time.monotonic() - started
        running.up_output = result.stdout + result.stderr
        # Shown with -rP or -s: how long each service took to start on this machine.
        print(next(line for line in result.stdout.splitlines() if "ready in" in line))
        yield running
    finally:
        processes = running.processes()
        down = running.sentiment("stack", "down", env=env, timeout=120)
        _, leftovers = psutil.wait_procs(processes, timeout=10)
        for process in leftovers:
            with contextlib.suppress(psutil.Error):
                process.kill()
        _drop_databases(*running.databases)
        assert down.returncode == 0, output(down)
        assert not leftovers, f"processes left after `stack down`: {leftovers}"


# --- The seed's story against the stack, observed once and asserted by several tests ---------


@dataclass
class Story:
    """What a user sees training twice with --champion while the API serves the champion."""

    first: subprocess.CompletedProcess[str]
    first_flow_run: str
    api_after_first: dict[str, Any]
    prediction_after_first: dict[str, Any]
    second: subprocess.CompletedProcess[str]
    reload_seconds: float
    prediction_after_second: dict[str, Any]
    aliases: dict[str, str]
    model_info: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def story(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Story:
    """A weak model (50 features) becomes champion; the full model beats it and replaces it."""
    import httpx

    folder = tmp_path_factory.mktemp("story")
    weak = write_params(folder, "weak", max_features=50)

    before = stack.flow_run_ids()
    first = stack.sentiment("train", "--champion", "--params", str(weak))
    assert first.returncode == 0, output(first)
    new_runs = stack.flow_run_ids() - before
    assert len(new_runs) == 1, f"expected one new flow run, found {new_runs}"

    stack.wait_api_version("1")
    api_after_first = stack.api_health().json()
    text = {"text": "A wonderful, moving film with brilliant acting."}
    prediction_after_first = httpx.post(f"{stack.api_url}/predict", json=text, timeout=10).json()

    second = stack.sentiment("train", "--champion")
    assert second.returncode == 0, output(second)
    finished = time.monotonic()
    stack.wait_api_version("2", timeout=30)
    reload_seconds = time.monotonic() - finished
    prediction_after_second = httpx.post(f"{stack.api_url}/predict", json=text, timeout=10).json()

    model = stack.mlflow().get_registered_model("sentiment-classifier")
    return Story(
        first=first,
        first_flow_run=new_runs.pop(),
        api_after_first=api_after_first,
        prediction_after_first=prediction_after_first,
        second=second,
        reload_seconds=reload_seconds,
        prediction_after_second=prediction_after_second,
        aliases={alias: str(version) for alias, version in model.aliases.items()},
        model_info=stack.sentiment("model-info"),
    )
