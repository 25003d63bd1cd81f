"""Prefect's test harness, on a database migrated once instead of once per session.

`prefect.testing.utilities.prefect_test_harness` starts Prefect's API server in a process on a
new SQLite database, which the server migrates and fills with Prefect's block types: ~20 s of
the harness's ~30 s start on a busy machine. `api_server` and `pointed_at` do what it does (the
same server command and settings, the same draining of the log and event workers at the end) on
a copy of a database that an earlier session migrated (tests/support/templates.py), with the
migrations and the block registration off, and without the server services that no test reads
from.
"""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

import pytest

from tests.support.processes import ServerProcess, free_port, http_ok
from tests.support.templates import Template

DATABASE = "prefect.db"
# The folder of the template database this session copied or built (`template_database`).
_TEMPLATE_FOLDER = pytest.StashKey[Path]()
_STARTUP_TIMEOUT_S = 120


@contextmanager
def pointed_at(request: pytest.FixtureRequest, api_url: str) -> Iterator[None]:
    """This process's Prefect on the API server at `api_url` (`api_server`), as Prefect's test
    harness points it: for tests that run flows in this process."""
    folder = request.getfixturevalue("tmp_path_factory").mktemp("prefect-client")
    with _pointed_at(api_url, one_certificate(folder)):
        yield


@contextmanager
def api_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Prefect API server on a copy of the template database; yields its API URL. This
    process's Prefect settings stay as they are (`pointed_at` points them at it).

    A session that finds no template lets its server migrate a new database, as Prefect's test
    harness does, and saves a snapshot of it once the server is up, before any flow runs.
    """
    template = _template(request)
    tmp_path_factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    database = tmp_path_factory.mktemp("prefect") / DATABASE
    with ExitStack() as building:
        found = template.find()
        if found is None:
            building.enter_context(template.building())  # until this session saved it
            found = template.find()  # saved by a session this one waited for
        if found is not None:
            building.close()
            shutil.copyfile(found / DATABASE, database)
            request.config.stash[_TEMPLATE_FOLDER] = found
        with _server(database, prepared=found is not None) as api_url:
            if found is None:
                saved = template.save(lambda folder: _snapshot(database, folder / DATABASE))
                request.config.stash[_TEMPLATE_FOLDER] = saved
                building.close()
            yield api_url


def template_database(request: pytest.FixtureRequest) -> Path:
    """The template database: migrated, Prefect's block types in, no flow run yet (as a
    server's first start leaves it). A session that finds none starts a server to build it."""
    if _TEMPLATE_FOLDER not in request.config.stash:
        found = _template(request).find()
        if found is not None:
            request.config.stash[_TEMPLATE_FOLDER] = found
        else:
            with api_server(request):
                pass
    return request.config.stash[_TEMPLATE_FOLDER] / DATABASE


def _template(request: pytest.FixtureRequest) -> Template:
    return Template(request, "prefect-db", ("prefect", "sqlalchemy", "alembic", "aiosqlite"))


def _snapshot(database: Path, copy: Path) -> None:
    """A consistent copy of a SQLite database that a server has open (SQLite's backup API)."""
    with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)


@contextmanager
def _server(database: Path, *, prepared: bool) -> Iterator[str]:
    """`prefect_test_harness`'s server, on `database` (`prepared`: migrated, blocks in).

    The server is started as Prefect's `SubprocessASGIServer` starts it (the same uvicorn
    command and variables), without importing Prefect's server into this process (~3 s).
    """
    spec = importlib.util.find_spec("prefect")  # its folder, without importing it here
    assert spec is not None and spec.origin is not None, "Prefect is not installed"
    port = free_port()
    env = {
        "PREFECT_HOME": str(database.parent / "home"),  # the server's files, not ~/.prefect's
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{database}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_MIGRATE_ON_START": str(not prepared).lower(),
        "PREFECT_API_BLOCKS_REGISTER_ON_START": str(not prepared).lower(),
        # The memo of the block registration imports every Prefect collection first (here
        # prefect-kubernetes), even when the registration itself is off: ~0.8 CPU s a start
        # (bench/local_prefect_start.py).
        "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": str(not prepared).lower(),
        # Services no test reads from, each a cost per start or per event: the vacuum of old
        # events (seconds at each start), the automations' triggers and actions (this project
        # defines none) and the events table (tests read task runs and logs, not events).
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "[]",
        "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
        # A client refused a concurrency slot retries after the server's Retry-After: the
        # limit's average occupancy (2 s for a new limit) capped at this, 30 s by default.
        # The tests' holders hold for tenths of a second; the lock tests waited ~2 s for it.
        "PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS": "0.05",
        "PREFECT_API_URL": None,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(spec.origin).parent)]
    command += ["--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "error", "--lifespan", "on"]
    api_url = f"http://127.0.0.1:{port}/api"
    log = database.parent / f"prefect-server-{port}.log"
    with ServerProcess(command, env, log, cwd=database.parent) as server:
        server.wait_ready(http_ok(f"{api_url}/health"), _STARTUP_TIMEOUT_S, "the Prefect server")
        yield api_url


def one_certificate(folder: Path) -> Path:
    """A CA file of one certificate (certifi's first), for clients of a plain-HTTP server.

    Each Prefect client builds an SSL context even for an `http://` API, from certifi's whole
    bundle by default: ~40 ms of CPU per client (~120 certificates parsed), and the flow tests
    make ~70 clients (each flow run's engine, log and event workers, each read of a run's log).
    From a file of one certificate the context costs under 1 ms; no connection here uses it."""
    import certifi

    bundle = Path(certifi.where()).read_text()
    end = "-----END CERTIFICATE-----"
    first = bundle[bundle.index("-----BEGIN CERTIFICATE-----") : bundle.index(end) + len(end)]
    path = folder / "one-certificate.pem"
    path.write_text(first + "\n")
    return path


@contextmanager
def _pointed_at(api_url: str, ca_file: Path) -> Iterator[None]:
    """This process's Prefect on the server at `api_url`, as `prefect_test_harness` points it
    (with the draining of the log and event workers at the end, before the server stops);
    its clients' SSL contexts read `ca_file` (`one_certificate`)."""
    import prefect.context
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import (
        PREFECT_API_SSL_CERT_FILE,
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )
    from prefect.utilities.asyncutils import run_coro_as_sync

    with (
        # No flow run heartbeats: Prefect's heartbeat thread sleeps in 1 s steps and each flow
        # run joins it when it ends, which made every flow run here ~1 s longer (~30 s of the
        # flow tests' wall time); the server's crash detection that reads them is not tested.
        temporary_settings(
            updates={
                PREFECT_API_URL: api_url,
                PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
                PREFECT_API_SSL_CERT_FILE: str(ca_file),
            }
        ),
        # Also the process-wide settings, for contexts copied before this one (as the harness).
        prefect.context._temporary_global_settings_context(prefect.context.get_settings_context()),
    ):
        yield

        async def drain_workers() -> None:
            """Send the queued logs and events before the server stops."""
            try:
                result = APILogWorker.instance().drain()
                if inspect.isawaitable(result):
                    await result
            except RuntimeError:  # the worker never started
                pass
            result = EventsWorker.drain_all()
            if inspect.isawaitable(result):
                await result

        run_coro_as_sync(drain_workers())
