"""Fixtures shared by every test: an isolated embedded MLflow store, the tool environment put
back after each test, and the order of xdist's units of work."""

from __future__ import annotations

import gc
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sentiment_mlops.settings import Settings, get_settings
from tests.support import prefect_server
from tests.support.environment import store_variables, tool_environment_restored
from tests.support.paths import DEMO_DATA
from tests.support.templates import Template


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` (the default in pyproject.toml) keeps the folders whose tests share a
    costly session fixture on one worker: see tests/support/scheduling.py."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.support.scheduling import SharedFixtureScheduling

    return SharedFixtureScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    """Each test's seconds are kept for the next run's order of xdist's units of work."""
    if not hasattr(config, "workerinput"):  # the process that reports the tests
        from tests.support.scheduling import DurationRecorder

        config.pluginmanager.register(DurationRecorder(config), "sentiment-test-durations")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Less of Python's cyclic garbage collection in the process that runs the tests.

    Collection leaves a large heap (MLflow, Prefect, scikit-learn, pandas and the test modules)
    that lives as long as the process: frozen, full collections no longer walk it. Collections
    of the young generations come every 10,000 allocations instead of 700, so each test's
    objects are walked less often. Measured with gc.callbacks over the quick set (two
    workers): ~6.8 CPU s in the collector before, ~3.7 CPU s after. Memory is the only cost;
    garbage without cycles is still freed at once (reference counting)."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@pytest.fixture(autouse=True)
def _ignore_developer_env_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's `.env` (copied from .env.example) must not change what tests see."""
    monkeypatch.setitem(Settings.model_config, "env_file", None)


@pytest.fixture(autouse=True)
def _restore_tool_environment() -> Iterator[None]:
    """An entry point run in-process (the CLI, an app's lifespan, the flow) configures MLflow and
    Prefect through the environment (`process.configure_process`); the next test starts afresh."""
    with tool_environment_restored():
        yield


@pytest.fixture(autouse=True)
def _restore_sys_path() -> Iterator[None]:
    """`mlflow.pyfunc.load_model` puts the model's code folder on `sys.path`, with a
    `sentiment_mlops` of the model code alone: a process spawned later from this one (the shadow
    scorer) would import that package and miss the rest. Each test starts with the path it had."""
    saved = list(sys.path)
    yield
    sys.path[:] = saved


@pytest.fixture
def demo_data() -> Path:
    return DEMO_DATA


@pytest.fixture
def store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh SQLite MLflow store and artifact folder, selected through the environment.

    The same variables configure in-process code (through `get_settings`) and subprocesses.
    """
    env = store_variables(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


@pytest.fixture
def settings(store_env: dict[str, str]) -> Settings:
    return get_settings()


def _migrate_mlflow_store(folder: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments()
    client.search_registered_models()


@pytest.fixture(scope="session")
def migrated_store_template(request: pytest.FixtureRequest) -> Path:
    """An empty SQLite MLflow store, migrated once per MLflow version (and kept between
    sessions, see tests/support/templates.py): MLflow's migrations of a new database take
    seconds, a copy of the migrated file milliseconds."""
    template = Template(request, "mlflow-store", ("mlflow", "sqlalchemy", "alembic"))
    return template.get(_migrate_mlflow_store) / "mlflow.db"


@pytest.fixture
def migrated_store_env(store_env: dict[str, str], migrated_store_template: Path) -> dict[str, str]:
    """`store_env` whose database already exists, empty and migrated, as after a first command.

    For tests of commands on an existing store; tests of a store's first use take `store_env`.
    """
    database = Path(store_env["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))
    shutil.copyfile(migrated_store_template, database)
    return store_env


@pytest.fixture(scope="session")
def prefect_api(request: pytest.FixtureRequest) -> Iterator[str]:
    """The session's Prefect API server, on a copy of a migrated database
    (tests/support/prefect_server.py), started by the first test that asks for it; yields its URL.

    The flow tests point this process's Prefect at it (tests/flows/conftest.py); the CLI tests
    give it to the commands they run as processes, as PREFECT_API_URL. Both run on one worker
    (tests/support/scheduling.py), so the server starts once. Its flow runs accumulate: a test
    tells its own apart, by id, from those there before it started."""
    with prefect_server.api_server(request) as api_url:
        yield api_url


@pytest.fixture(scope="session")
def prefect_database_template(request: pytest.FixtureRequest) -> Path:
    """An empty Prefect database, migrated and with Prefect's block types in."""
    return prefect_server.template_database(request)


@pytest.fixture
def migrated_prefect_home(store_env: dict[str, str], prefect_database_template: Path) -> Path:
    """`store_env`'s PREFECT_HOME as a first `sentiment train` leaves it: the database of
    Prefect's local server migrated, so the next local server starts without migrations.

    For tests of commands that start the local server; tests of its first start (the
    migration) take `store_env` alone.
    """
    from sentiment_mlops.flows.local_prefect import migrated_marker

    home = Path(store_env["PREFECT_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(prefect_database_template, home / prefect_server.DATABASE)
    migrated_marker(home).touch()
    return home
