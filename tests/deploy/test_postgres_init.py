"""docker/postgres/init-databases.sh, run as the postgres image runs it, creates its databases.

It runs against the test PostgreSQL server (SENTIMENT_TEST_PG_URL, the one the stack tests use)
with throwaway names, and drops what it made.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import pytest

from tests.deploy.tools import REPO, in_ci, output, require_tool, run

SCRIPT = REPO / "docker" / "postgres" / "init-databases.sh"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def pg_env() -> Iterator[dict[str, str]]:
    """libpq variables for the test server, as the postgres image's entrypoint would have them."""
    psql = require_tool("psql", "apt-get install postgresql-client")
    url = urlsplit(os.environ.get("SENTIMENT_TEST_PG_URL", DEFAULT_URL))
    env = {
        **os.environ,
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGPASSWORD": unquote(url.password or ""),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_DB": url.path.lstrip("/") or "postgres",
    }
    probe = run(
        [psql, "-d", env["POSTGRES_DB"], "-U", env["POSTGRES_USER"], "-c", "select 1"], env=env
    )
    if probe.returncode != 0:
        message = f"no PostgreSQL at {url.hostname}:{url.port}: {probe.stderr.strip()}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    yield env


def _psql(env: dict[str, str], sql: str) -> str:
    args = ["psql", "-U", env["POSTGRES_USER"], "-d", env["POSTGRES_DB"], "-Atc", sql]
    result = run(args, env=env)
    assert result.returncode == 0, output(result)
    return result.stdout.strip()


def test_init_script_creates_roles_and_databases(pg_env: dict[str, str]) -> None:
    suffix = secrets.token_hex(4)
    names = {
        "MLFLOW_DB_NAME": f"deploytest_mlflow_{suffix}",
        "PREFECT_DB_NAME": f"deploytest_prefect_{suffix}",
        "PREDICTIONS_DB_NAME": f"deploytest_predictions_{suffix}",
    }
    env = {
        **pg_env,
        **names,
        "MLFLOW_DB_PASSWORD": 'it\'s a "quoted" pass; DROP ROLE x',
        "PREFECT_DB_PASSWORD": "prefect-pass",
        "PREDICTIONS_DB_PASSWORD": "predictions-pass",
    }
    try:
        result = run(["bash", str(SCRIPT)], env=env)
        assert result.returncode == 0, output(result)
        for name in names.values():
            owner = _psql(
                env, f"select pg_get_userbyid(datdba) from pg_database where datname = '{name}'"
            )
            assert owner == name
            has_password = _psql(
                env,
                f"select rolpassword is not null and rolcanlogin "
                f"from pg_authid where rolname = '{name}'",
            )
            assert has_password == "t"
    finally:
        for name in names.values():
            _psql(env, f'drop database if exists "{name}"')
            _psql(env, f'drop role if exists "{name}"')


def test_init_script_refuses_to_run_without_passwords(pg_env: dict[str, str]) -> None:
    env = {k: v for k, v in pg_env.items() if not k.endswith("_DB_PASSWORD")}
    result = run(["bash", str(SCRIPT)], env=env)
    assert result.returncode != 0
    assert "MLFLOW_DB_PASSWORD must be set" in result.stderr, output(result)
