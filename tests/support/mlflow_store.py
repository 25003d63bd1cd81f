"""Copies of MLflow stores for tests: a SQLite store moved to another folder.

MLflow writes absolute paths (artifact locations, run and model URIs) into its database and into
each model's `MLmodel`, so a copied store still points at the folder it was built in until
those paths are rewritten.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path


def move_store_paths(database: Path, old: str, new: str) -> None:
    """Rewrite the folder `old` as `new` in every text cell of an MLflow SQLite store."""
    with closing(sqlite3.connect(database)) as db, db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]:
                db.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                    (old, new, old),
                )


def copy_moved_store(source: Path, old: str, target: Path) -> None:
    """Copy the store folder `source` (its database, artifacts and models), whose paths name
    the folder `old` it was built in, into `target`, with those paths moved there."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    move_store_paths(target / "mlflow.db", old, str(target))
    move_model_files(target, old, str(target))


def move_model_files(root: Path, old: str, new: str) -> None:
    """Rewrite the folder `old` as `new` in every `MLmodel` file under `root`."""
    for path in root.rglob("MLmodel"):
        text = path.read_text()
        if old in text:
            path.write_text(text.replace(old, new))
