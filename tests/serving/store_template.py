"""The serving and scoring tests' trained store, built once and copied into each session.

Training, logging and registering the demo model costs ~4.5 s of CPU; pytest-xdist spreads the
serving and scoring modules over every worker, so each worker paid it. The store is built once
into a template (tests/support/templates.py: kept in pytest's cache folder, built under a file
lock) and each session gets its own copy, as it got its own store before: tests that register
versions, set aliases or log broken models change only their session's copy.

MLflow writes absolute artifact locations (in the database and in each model's `MLmodel`), so a
copy has the template's folder replaced by its own wherever that appears.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

from tests.serving.helpers import MlflowStore, train_store
from tests.support.mlflow_store import copy_moved_store
from tests.support.templates import TRAINED_STORE_LIBRARIES, Template, trained_store_sources


def _build(folder: Path, migrated_store: Path) -> None:
    root = folder / "store"
    root.mkdir()
    shutil.copyfile(migrated_store, root / "mlflow.db")  # no migrations to wait for
    store = train_store(root)
    (folder / "model.pkl").write_bytes(pickle.dumps(store.model))
    facts = {
        "root": str(root),
        "model_uri": store.model_uri,
        "run_id": store.run_id,
        "experiment_id": store.experiment_id,
    }
    (folder / "store.json").write_text(json.dumps(facts))


def copy_trained_store(
    request: pytest.FixtureRequest, root: Path, migrated_store: Path
) -> MlflowStore:
    """A store in `root` as `train_store(root)` leaves it, copied from the template."""
    sources = trained_store_sources(Path(__file__).with_name("helpers.py"), Path(__file__))
    template = Template(request, "served-store", TRAINED_STORE_LIBRARIES, sources=sources)
    folder = template.get(lambda staging: _build(staging, migrated_store))
    facts = json.loads((folder / "store.json").read_text())
    copy_moved_store(folder / "store", facts["root"], root)
    model = pickle.loads((folder / "model.pkl").read_bytes())
    return MlflowStore(root, model, facts["model_uri"], facts["run_id"], facts["experiment_id"])
