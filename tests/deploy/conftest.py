"""Fixtures of the deployment tests: the parsed compose file, workflows, and the CLI's commands."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from tests.deploy import k8s
from tests.deploy.stackfiles import COMPOSE_FILE, ENV_EXAMPLE, load_yaml, read_env_file


@pytest.fixture(scope="session", autouse=True)
def _training_job_memo(request: pytest.FixtureRequest) -> None:
    """The Jobs `k8s.training_job` builds are kept in pytest's cache folder (`--cache-clear`
    drops them; without the cache plugin each is built in each process)."""
    cache = getattr(request.config, "cache", None)
    k8s.JOB_MEMO = cache.mkdir("k8s-training-jobs") if cache is not None else None


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="session")
def cli_command() -> Any:
    """The `sentiment` console script as a click command (Typer builds on click).

    Skips only while `sentiment_mlops.cli` does not exist yet; any other import error fails.
    """
    try:
        module = importlib.import_module("sentiment_mlops.cli")
    except ModuleNotFoundError as error:
        if error.name not in ("sentiment_mlops.cli", "sentiment_mlops"):
            raise
        pytest.skip("sentiment_mlops.cli does not exist yet: no commands to check against")
    import click
    import typer

    apps = [value for value in vars(module).values() if isinstance(value, typer.Typer)]
    # Sub-apps (`sentiment data ...`) are imported into the module too: the root is the app
    # that no other app mounts.
    mounted = {id(group.typer_instance) for app in apps for group in app.registered_groups}
    roots = [app for app in apps if id(app) not in mounted]
    if len(roots) == 1:
        return typer.main.get_command(roots[0])
    groups = [value for value in vars(module).values() if isinstance(value, click.Group)]
    # (Typer apps are handled above; a plain click CLI would be a click.Group.)
    if not roots and len(groups) == 1:
        return groups[0]
    pytest.fail(f"cannot tell the root command of sentiment_mlops.cli: {roots or groups}")
