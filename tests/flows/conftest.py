"""Prefect's test harness (a temporary Prefect database and API) for the flow tests only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sentiment_mlops.settings import Settings, get_settings
from tests.conftest import PARAMS_FILE


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


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
