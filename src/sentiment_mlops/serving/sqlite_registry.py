"""The API's registry answers read straight from a local SQLite MLflow store (issue 15).

Against the embedded default store the API used to build MLflow's client: importing MLflow
alone took longer than everything else before the first served model, and kept ~100 MB of
modules resident. The three answers the API needs are three indexed queries on MLflow's tables
(the version behind an alias with where its files are, a run's latest metrics), and loading is
reading `MLmodel` and the compact scorer or pickle it names (`model_files.load_version_model`).

Those tables are MLflow's, not a public API. So this reader is used only on a store whose
schema is the Alembic revision it was written and tested against (`KNOWN_REVISION`; the tests
check that a store created by the installed MLflow has it): any other store (not created yet,
older, migrated by a newer MLflow) goes through MLflow's client as before. It opens the
database read-only and never creates, migrates or writes anything.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sentiment_mlops.errors import RegistryError, ServiceUnavailableError
from sentiment_mlops.model_ref import ModelRef
from sentiment_mlops.serving.model_files import load_version_model, local_reader
from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)

# The schema this reader knows: MLflow 3.17's (`alembic_version` of a store it created).
KNOWN_REVISION = "dc11669786a5"
# The only workspace of a single-tenant store, as MLflow's SqlAlchemyStore filters on it.
_WORKSPACE = "default"
_DELETED = "Deleted_Internal"  # a deleted version's stage (MLflow keeps the row)

_VERSION_COLUMNS = "v.name, v.version, v.run_id, v.source, v.storage_location"
_BY_ALIAS = f"""
SELECT {_VERSION_COLUMNS} FROM registered_model_aliases AS a
JOIN model_versions AS v ON v.name = a.name AND v.version = a.version
    AND v.workspace = a.workspace
WHERE a.name = ? AND a.alias = ? AND a.workspace = ? AND v.current_stage != ?
"""
# MLflow's `latest` alias: the newest version of the model.
_LATEST = f"""
SELECT {_VERSION_COLUMNS} FROM model_versions AS v
WHERE v.name = ? AND v.workspace = ? AND v.current_stage != ?
ORDER BY v.version DESC LIMIT 1
"""
_OF_VERSION = "WHERE name = ? AND version = ? AND workspace = ?"
_ALIASES = f"SELECT alias FROM registered_model_aliases {_OF_VERSION}"
_TAGS = f"SELECT key, value FROM model_version_tags {_OF_VERSION}"
_METRICS = "SELECT key, value, is_nan FROM latest_metrics WHERE run_uuid = ?"


def open_sqlite_registry(settings: Settings) -> SqliteRegistry | None:
    """The reader for the settings' store, or None when MLflow's client must be used."""
    path = _database_path(settings.mlflow_tracking_uri)
    if path is None or not path.is_file():
        return None
    registry = SqliteRegistry(settings, f"{path.resolve().as_uri()}?mode=ro")
    try:
        revision = registry.revision()
    except ServiceUnavailableError as error:
        logger.info("reading the registry through MLflow: %s", error)
        return None
    if revision != KNOWN_REVISION:
        logger.info(
            "reading the registry through MLflow: its schema is revision %s, not %s",
            revision,
            KNOWN_REVISION,
        )
        return None
    return registry


def _database_path(uri: str) -> Path | None:
    """The file of a plain `sqlite:///path` URI (SQLAlchemy's spelling, as MLflow takes it);
    None for anything else, options and in-memory databases included: MLflow opens those."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or "?" in uri or uri == prefix or ":memory:" in uri:
        return None
    return Path(uri.removeprefix(prefix))


class SqliteRegistry:
    """What the model store asks of the registry, read from MLflow's SQLite tables."""

    def __init__(self, settings: Settings, database: str) -> None:
        self.settings = settings
        self._database = database
        # Where each version's files are, from its alias lookup: the load needs no query.
        self._locations: dict[tuple[str, str], str] = {}

    def revision(self) -> str | None:
        """The store's Alembic revision (None when it has none: not an MLflow store yet)."""
        with self._connection() as connection:
            try:
                row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            except sqlite3.OperationalError:  # no such table
                return None
        return None if row is None else str(row[0])

    def get_alias(self, name: str, alias: str) -> ModelRef | None:
        """The version an alias points at, or None when the model or the alias does not exist."""
        with self._connection() as connection:
            if alias.lower() == "latest":
                row = connection.execute(_LATEST, (name, _WORKSPACE, _DELETED)).fetchone()
            else:
                row = connection.execute(_BY_ALIAS, (name, alias, _WORKSPACE, _DELETED)).fetchone()
            if row is None:
                return None
            name, version, run_id, source, location = row
            key = (name, version, _WORKSPACE)
            aliases = sorted(found for (found,) in connection.execute(_ALIASES, key))
            tags = dict(connection.execute(_TAGS, key).fetchall())
        self._locations[name, str(version)] = location or source
        return ModelRef(
            name=name,
            version=str(version),
            run_id=run_id or None,
            aliases=tuple(aliases),
            tags=tags,
            source=source,
        )

    def load_model(self, ref: ModelRef) -> Any:
        """Read the version's `MLmodel`, then its compact scorer or its pickle, from its folder."""
        location = self._locations.get((ref.name, ref.version))
        if location is None:  # not looked up by alias in this process
            location = self._location(ref)
        return load_version_model(local_reader(location, self.settings), self.settings)

    def run_metrics(self, run_id: str | None) -> dict[str, float]:
        """The latest value of each metric a run logged: {} when the run is unknown."""
        if not run_id:
            return {}
        with self._connection() as connection:
            rows = connection.execute(_METRICS, (run_id,)).fetchall()
        return {key: float("nan") if is_nan else float(value) for key, value, is_nan in rows}

    def _location(self, ref: ModelRef) -> str:
        query = (
            "SELECT storage_location, source FROM model_versions"
            " WHERE name = ? AND version = ? AND workspace = ? AND current_stage != ?"
        )
        with self._connection() as connection:
            row = connection.execute(
                query, (ref.name, int(ref.version), _WORKSPACE, _DELETED)
            ).fetchone()
        if row is None or not (row[0] or row[1]):
            raise RegistryError(f"registry: version {ref.version} of {ref.name!r} not found")
        return str(row[0] or row[1])

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection for one check (the watcher and a forced check each open
        their own: a connection belongs to the thread that made it)."""
        try:
            with closing(sqlite3.connect(self._database, uri=True, timeout=10)) as connection:
                yield connection
        except sqlite3.OperationalError as error:
            # Locked for longer than the timeout, unreadable, or not a database.
            raise ServiceUnavailableError(f"cannot read the MLflow store: {error}") from error
