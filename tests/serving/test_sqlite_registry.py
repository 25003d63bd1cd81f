"""The API reads a local SQLite MLflow store without MLflow, and answers as MLflow's client does.

The reader queries MLflow's tables directly, so it is used only on the schema it knows: these
tests run it on a store created and filled by the installed MLflow (a new MLflow release that
migrates the schema fails the first test, which says to check the queries and move
`KNOWN_REVISION`), and check that any other store goes through MLflow's client.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sentiment_mlops import registry
from sentiment_mlops.core.compact_file import COMPACT_FILE
from sentiment_mlops.core.compact_scorer import CompactScorer
from sentiment_mlops.errors import RegistryError
from sentiment_mlops.redaction import redactor_for
from sentiment_mlops.serving.registry_client import MlflowRegistry, open_registry
from sentiment_mlops.serving.sqlite_registry import SqliteRegistry
from tests.serving.helpers import MODEL_NAME, MlflowStore, log_model

TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "Ça m'a plu 🎬"]


def test_a_store_made_by_mlflow_is_read_as_mlflow_reads_it(mlflow_store: MlflowStore) -> None:
    settings = mlflow_store.settings()
    reader = open_registry(settings, redactor_for(settings))
    assert isinstance(reader, SqliteRegistry), "MLflow's schema moved: check the queries"
    client = mlflow_store.client()
    version = mlflow_store.register(MODEL_NAME)  # a second alias on its own version
    client.set_registered_model_alias(MODEL_NAME, "reader-test", version)
    client.set_model_version_tag(MODEL_NAME, version, "purpose", "reader-test")
    for alias in ("champion", "reader-test", "latest"):
        assert reader.get_alias(MODEL_NAME, alias) == registry.get_alias(client, MODEL_NAME, alias)
    assert reader.get_alias(MODEL_NAME, "no-such-alias") is None
    assert reader.get_alias("no-such-model", "champion") is None
    assert reader.run_metrics(mlflow_store.run_id) == registry.run_metrics(
        client, mlflow_store.run_id
    )
    assert reader.run_metrics("0" * 32) == {}
    champion = reader.get_alias(MODEL_NAME, "champion")
    assert champion is not None
    loaded = reader.load_model(champion)
    expected = mlflow_store.model.predict_proba(TEXTS)
    assert np.array_equal(loaded.predict_proba(TEXTS), expected)
    # Without the lookup (a fresh reader): the version's files are found by their own query.
    fresh = open_registry(settings, redactor_for(settings))
    assert np.array_equal(fresh.load_model(champion).predict_proba(TEXTS), expected)


def test_a_schema_it_does_not_know_goes_through_mlflow(
    mlflow_store: MlflowStore, tmp_path: Path
) -> None:
    copy = tmp_path / "mlflow.db"
    shutil.copyfile(mlflow_store.db, copy)
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'from-a-newer-mlflow'")
    settings = mlflow_store.settings(mlflow_tracking_uri=f"sqlite:///{copy}")
    assert isinstance(open_registry(settings, redactor_for(settings)), MlflowRegistry)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # not an MLflow store yet: MLflow creates its tables
    settings = mlflow_store.settings(mlflow_tracking_uri=f"sqlite:///{empty}")
    assert isinstance(open_registry(settings, redactor_for(settings)), MlflowRegistry)


@pytest.mark.slow  # MLflow's model loading: over a second of CPU
def test_mlflow_s_client_path_loads_the_compact_scorer_not_the_pickle(
    mlflow_store: MlflowStore,
) -> None:
    """The fallback for stores the readers do not know loads what they load: a version's
    compact scorer, without unpickling (its pickle is not even readable here); a version
    without one, from its pickle."""
    client = mlflow_store.client()
    _, model_uri = log_model(client, mlflow_store.experiment_id, mlflow_store.model)
    folder = mlflow_store.model_folder(model_uri)
    (folder / "model.pkl").write_bytes(b"not a pickle: loading must not read it")
    fallback = MlflowRegistry(mlflow_store.settings())
    ref = registry.get_version(client, MODEL_NAME, mlflow_store.register(MODEL_NAME, model_uri))
    loaded = fallback.load_model(ref)
    assert isinstance(loaded, CompactScorer)
    expected = mlflow_store.model.predict_proba(TEXTS)
    assert np.array_equal(loaded.predict_proba(TEXTS), expected)
    _, model_uri = log_model(client, mlflow_store.experiment_id, mlflow_store.model)
    (mlflow_store.model_folder(model_uri) / COMPACT_FILE).write_bytes(b"damaged")
    ref = registry.get_version(client, MODEL_NAME, mlflow_store.register(MODEL_NAME, model_uri))
    with pytest.raises(RegistryError, match="compact scorer refused"):
        fallback.load_model(ref)
