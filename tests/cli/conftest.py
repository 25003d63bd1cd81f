"""Fixtures of the CLI tests: one Prefect API server for every module that needs one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import prefect_server


@pytest.fixture(scope="package")
def prefect_api(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Prefect API server for the commands these tests run as processes, with its URL as
    PREFECT_API_URL (this process's Prefect is not pointed at it). Started on a copy of a
    migrated database (tests/support/prefect_server.py) by the first test that asks for it,
    stopped after the last CLI test: idle, it still costs ~0.5 CPU s a minute. Its flow runs
    accumulate: a test tells its own apart, by id, from those there before it started."""
    with prefect_server.api_server(request) as api_url:
        yield api_url
