"""Prefect's test harness (a temporary Prefect database and API) for the flow tests only, and
stores whose champion the flow trained once per session, copied for each test that needs one."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest
import yaml

from sentiment_mlops.flows.types import TrainingResult
from sentiment_mlops.settings import Settings, get_settings
from tests.support import prefect_server
from tests.support.environment import TOOL_PREFIXES, store_variables, tool_environment_restored
from tests.support.mlflow_store import move_store_paths
from tests.support.paths import PARAMS_FILE

if TYPE_CHECKING:  # Prefect is imported where a flow runs, not by each worker's collection
    from prefect.states import State

# A model weaker than params.yaml's (fewer features): a run with the project's params beats it.
WEAK_PARAMS = {"vectorizer": {"max_features": 50}}


class _HasFolder(Protocol):
    @property
    def folder(self) -> Path: ...


_Stored = TypeVar("_Stored", bound=_HasFolder)


FLOW_TESTS = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is `slow`, out of the quick set: each runs on the session's Prefect
    server (`prefect_harness`, autouse), over a second of CPU a test with the server's."""
    for item in items:
        if FLOW_TESTS in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def prefect_harness(request: pytest.FixtureRequest, prefect_api: str) -> Iterator[str]:
    """This process's Prefect on the session's API server, as `prefect_test_harness` gives it
    (without its migrations of a new database each session: see tests/support/prefect_server.py)."""
    with prefect_server.pointed_at(request, prefect_api):
        yield prefect_api


@pytest.fixture
def settings(migrated_store_env: dict[str, str]) -> Settings:
    """The root `settings` on a copy of an already migrated store: the flows write to it, but
    none of these tests is about a store's first use, which costs seconds per test."""
    return get_settings()


def write_params_file(path: Path, **sections: dict) -> Path:
    """A variant of the project's params.yaml at `path`."""
    params = yaml.safe_load(PARAMS_FILE.read_text())
    for section, values in sections.items():
        params[section] = params[section] | values
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture
def write_params(tmp_path: Path):
    """Write a variant of the project's params.yaml and return its path."""

    def write(name: str, **sections: dict) -> Path:
        return write_params_file(tmp_path / f"{name}.yaml", **sections)

    return write


@dataclass(frozen=True)
class ChampionStore:
    """A store (SQLite file and artifact folder) where one training flow run, on an empty
    store with `champion=True`, registered version 1 and made it champion."""

    folder: Path
    first: TrainingResult  # what that run returned
    state: State  # its final state, in the session's Prefect server


def _first_champion(folder: Path, template: Path, params: Path | None) -> ChampionStore:
    """Run the flow once on a copy of the empty migrated store `template` in `folder`."""
    shutil.copyfile(template, folder / "mlflow.db")
    state = run_flow_in(folder, params_path=str(params) if params else None, champion=True)
    return ChampionStore(folder, state.result(), state)


def run_flow_in(folder: Path, **parameters: Any) -> State:
    """The training flow's final state after a run with `parameters` on the store in `folder`,
    selected through the environment for this run only (for session fixtures)."""
    from sentiment_mlops.flows.training import training_flow

    with store_selected(folder):
        return training_flow(**parameters, return_state=True)


@contextmanager
def store_selected(
    folder: Path, env_file: Path | None = None, unset: tuple[str, ...] = ("MLFLOW_REGISTRY_URI",)
) -> Iterator[None]:
    """The store in `folder` selected through the environment (and `env_file` as the settings'
    .env, none by default) for the block only, for session fixtures: what the flow configures
    in this process is undone after it, so the session goes on as it was."""
    with tool_environment_restored(), pytest.MonkeyPatch.context() as patch:
        for name, value in store_variables(folder).items():
            patch.setenv(name, value)
        for name in unset:
            patch.delenv(name, raising=False)
        patch.setitem(Settings.model_config, "env_file", str(env_file) if env_file else None)
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()


@dataclass(frozen=True)
class UnregisteredRun:
    """The flow's one run with `register_model=False` on an empty migrated store that a `.env`
    alone selects (with MLflow's HTTP timeout, which MLflow reads from the environment only)."""

    tracking_uri: str  # the store, written in the .env only
    result: TrainingResult
    environment: dict[str, str]  # MLFLOW_* and PREFECT_* as the run left this process's


@pytest.fixture(scope="session")
def unregistered_run(
    tmp_path_factory: pytest.TempPathFactory, migrated_store_template: Path
) -> UnregisteredRun:
    """Run once for the tests of what the flow configures and of a run without registration:
    each training run costs seconds (most of it MLflow's logging)."""
    from sentiment_mlops.flows.training import training_flow

    folder = tmp_path_factory.mktemp("unregistered")
    shutil.copyfile(migrated_store_template, folder / "mlflow.db")
    tracking_uri = store_variables(folder)["MLFLOW_TRACKING_URI"]
    dotenv = folder / ".env"
    dotenv.write_text(f"MLFLOW_TRACKING_URI={tracking_uri}\nMLFLOW_HTTP_REQUEST_TIMEOUT=7\n")
    # MLflow reads neither the store nor the timeout from the .env: the flow must set them.
    unset = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_HTTP_REQUEST_TIMEOUT")
    with store_selected(folder, env_file=dotenv, unset=unset):
        result = training_flow(register_model=False)
        environment = {k: v for k, v in os.environ.items() if k.startswith(TOOL_PREFIXES)}
    return UnregisteredRun(tracking_uri, result, environment)


@pytest.fixture(scope="session")
def weak_champion_template(
    tmp_path_factory: pytest.TempPathFactory, migrated_store_template: Path
) -> ChampionStore:
    """The flow's first run on an empty store with WEAK_PARAMS, run once: several tests start
    from a champion, and each training run costs seconds (most of it MLflow's logging)."""
    folder = tmp_path_factory.mktemp("weak-champion")
    weak = write_params_file(folder / "weak.yaml", **WEAK_PARAMS)
    return _first_champion(folder, migrated_store_template, weak)


@pytest.fixture(scope="session")
def first_champion_template(
    tmp_path_factory: pytest.TempPathFactory, migrated_store_template: Path
) -> ChampionStore:
    """The flow's first run on an empty store with the project's params.yaml, run once: the
    tests of a store's first training read it (its tasks, its log, its model)."""
    folder = tmp_path_factory.mktemp("first-champion")
    return _first_champion(folder, migrated_store_template, None)


@pytest.fixture
def weak_champion(
    store_env: dict[str, str], weak_champion_template: ChampionStore, tmp_path: Path
) -> ChampionStore:
    """`store_env` holding a copy of `weak_champion_template`'s store (its paths moved here)."""
    return copied(weak_champion_template, tmp_path)


@pytest.fixture
def first_champion(
    store_env: dict[str, str], first_champion_template: ChampionStore, tmp_path: Path
) -> ChampionStore:
    """`store_env` holding a copy of `first_champion_template`'s store (its paths moved here)."""
    return copied(first_champion_template, tmp_path)


def copied(template: _Stored, folder: Path) -> _Stored:
    """`template` with its store copied to `folder` (any of these dataclasses with a `folder`)."""
    copy_store(template.folder, folder)
    return replace(template, folder=folder)


def copy_store(source: Path, folder: Path) -> None:
    """Copy the store in `source` (SQLite file and artifacts) to `folder`, its paths moved."""
    shutil.copyfile(source / "mlflow.db", folder / "mlflow.db")
    shutil.copytree(source / "mlartifacts", folder / "mlartifacts")
    move_store_paths(folder / "mlflow.db", str(source), str(folder))
    get_settings.cache_clear()
