"""Empty, migrated databases (an MLflow store, a Prefect database) built once and copied.

Migrating a new MLflow store takes ~10 s here and a new Prefect database ~20 s; copying the
migrated file takes milliseconds. A template depends only on the installed versions of the
libraries that shape its schema, so it is kept in pytest's cache folder (`.pytest_cache`;
`pytest --cache-clear` drops it) under a name made of those versions, and reused by later
sessions. With pytest's cache plugin off (`-p no:cacheprovider`) each session builds its own.
Sessions running at once (pytest-xdist's workers) build a missing template once: one builds it
under a file lock, the others wait for that lock and then copy the template.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import pytest
from filelock import FileLock

from tests.support.paths import DEMO_DATA, PARAMS_FILE, SOURCE

# What shapes a trained store besides its sources: the libraries that fit, log and migrate.
TRAINED_STORE_LIBRARIES = (
    "mlflow",
    "scikit-learn",
    "numpy",
    "scipy",
    "pandas",
    "sqlalchemy",
    "alembic",
)


def trained_store_sources(*builders: Path) -> list[Path]:
    """The files a trained store's template is built from: our code, the demo reviews,
    params.yaml and the test modules that build it (`builders`)."""
    return [*sorted(SOURCE.rglob("*.py")), DEMO_DATA, PARAMS_FILE, *builders]


class Template:
    """A folder of prebuilt files, named after the versions of `distributions` installed."""

    def __init__(
        self,
        request: pytest.FixtureRequest,
        name: str,
        distributions: Sequence[str],
        sources: Sequence[Path] = (),
    ) -> None:
        """`sources`: files whose content shapes the template too (code, data); their digest
        joins the name, so an edit of one builds a new template."""
        self.name = name
        parts = [name, *(f"{d}{metadata.version(d)}" for d in distributions)]
        if sources:
            digest = hashlib.sha256()
            for source in sorted(sources):
                digest.update(str(source).encode() + b"\0" + source.read_bytes() + b"\0")
            parts.append(digest.hexdigest()[:16])
        self.key = "-".join(parts)
        cache = getattr(request.config, "cache", None)
        self._root: Path | None = cache.mkdir("templates") if cache is not None else None
        self._tmp_path_factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")

    def find(self) -> Path | None:
        """The template a session built before, if any."""
        if self._root is None:
            return None
        folder = self._root / self.key
        return folder if folder.is_dir() else None

    def save(self, build: Callable[[Path], None]) -> Path:
        """Run `build(folder)` and keep the folder as the template; returns it.

        A build is staged in a hidden folder and renamed into place when complete, so an
        interrupted one is never reused; of two sessions building at once, the first wins.
        """
        if self._root is None:
            folder = self._tmp_path_factory.mktemp(self.name)
            build(folder)
            return folder
        folder = self._root / self.key
        staging = Path(tempfile.mkdtemp(prefix=f".{self.key}-", dir=self._root))
        try:
            build(staging)
            staging.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for old in self._root.glob(f"{self.name}-*"):  # built for versions no longer installed
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
        return folder

    @contextmanager
    def building(self) -> Iterator[None]:
        """Held while a session looks for the template and builds it if missing: a session
        waiting here finds the template the session before it built."""
        if self._root is None:  # no cache: each session builds its own
            yield
            return
        with FileLock(self._root / f".{self.key}.lock"):
            yield

    def get(self, build: Callable[[Path], None]) -> Path:
        """The template, built by `build(folder)` if no session built it before."""
        found = self.find()
        if found is not None:
            return found
        with self.building():
            return self.find() or self.save(build)
