"""Prefect's test harness (a temporary Prefect database and API) for the flow tests only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sentiment_mlops.settings import Settings, get_settings
from tests.conftest import PARAMS_FILE
from tests.support import prefect_server


@pytest.fixture(scope="session", autouse=True)
def prefect_harness(request: pytest.FixtureRequest) -> Iterator[str]:
    """Prefect's API server for the session, as `prefect_test_harness` gives it (without its
    migrations of a new database each session: see tests/support/prefect_server.py)."""
    with prefect_server.prefect_harness(request) as api_url:
        yield api_url


@pytest.fixture
def settings(migrated_store_env: dict[str, str]) -> Settings:
    """The root `settings` on a copy of an already migrated store: the flows write to it, but
    none of these tests is about a store's first use, which costs seconds per test."""
    return get_settings()


@pytest.fixture
def write_params(tmp_path: Path):
    """Write a variant of the project's params.yaml and return its path."""

    def write(name: str, **sections: dict) -> Path:
        params = yaml.safe_load(PARAMS_FILE.read_text())
        for section, values in sections.items():
            params[section] = params[section] | values
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(params))
        return path

    return write
