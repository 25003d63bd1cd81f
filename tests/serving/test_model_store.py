"""The model store on its own: checks against a real SQLite MLflow, and candidate validation."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sentiment_mlops.serving.model_store import ModelStore
from sentiment_mlops.serving.served_model import ModelValidationError, validate_model
from tests.serving.helpers import MODEL_NAME, MlflowStore


def test_check_loads_then_reports_unchanged(mlflow_store: MlflowStore) -> None:
    store = ModelStore(mlflow_store.settings())
    first = store.check()
    assert (first.outcome, first.version, first.previous_version) == ("loaded", "1", None)
    assert store.current is not None and store.current.labels == ("negative", "positive")
    second = store.check()
    assert (second.outcome, second.changed) == ("unchanged", False)
    assert store.stats.reloads == 1 and store.stats.checks == 2


def test_check_without_champion_serves_nothing(mlflow_store: MlflowStore) -> None:
    store = ModelStore(mlflow_store.settings(model_name="nothing-here"))
    assert store.check().outcome == "no_champion"
    assert store.current is None and store.stats.last_failure is None


def test_an_unreadable_store_is_a_lookup_failure(mlflow_store: MlflowStore, tmp_path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    settings = mlflow_store.settings(mlflow_tracking_uri=f"sqlite:///{tmp_path}/a-file/x.db")
    store = ModelStore(settings)
    result = store.check()
    assert result.outcome == "lookup_failed" and result.error
    assert store.stats.failures["lookup"] == 1
    assert store.stats.last_failure is not None and store.stats.last_failure.stage == "lookup"


@pytest.mark.parametrize("model_name", [MODEL_NAME, "nothing-here"])
def test_the_collector_runs_again_after_the_first_check(
    mlflow_store: MlflowStore, model_name: str
) -> None:
    # The first check pauses the cyclic collector while it imports and loads (issue 15).
    store = ModelStore(mlflow_store.settings(model_name=model_name))
    store.check()
    assert gc.isenabled()


def test_replaced_snapshots_are_freed(mlflow_store: MlflowStore) -> None:
    """`gc.freeze()` after each swap moves the heap out of the collector's reach: a snapshot
    kept alive by a reference cycle would then never be freed, one model per reload."""
    name = "freed-snapshots"
    client = mlflow_store.client()
    store = ModelStore(mlflow_store.settings(model_name=name))
    replaced = []
    for _ in range(3):
        client.set_registered_model_alias(name, "champion", mlflow_store.register(name))
        assert store.check().outcome == "loaded"
        assert store.current is not None
        replaced.append(weakref.ref(store.current))
        replaced.append(weakref.ref(store.current.model))
    assert [ref() is None for ref in replaced] == [True, True, True, True, False, False]


def test_the_trained_pipeline_passes_validation(mlflow_store: MlflowStore) -> None:
    assert validate_model(mlflow_store.model) == ("negative", "positive")


def _three_class_model() -> object:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["good film", "bad film", "average film"] * 3
    return make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, [0, 1, 2] * 3)


class NoProba:
    classes_ = np.array([0, 1])


class BrokenProba(NoProba):
    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return np.full((len(texts), 2), np.nan)


@pytest.mark.parametrize(
    ("model", "words"),
    [
        (NoProba(), "no predict_proba"),
        (BrokenProba(), "not finite"),
        (_three_class_model(), "expected classes"),
        (object(), "no predict_proba"),
    ],
)
def test_models_that_are_not_binary_classifiers_are_refused(model: object, words: str) -> None:
    with pytest.raises(ModelValidationError, match=words):
        validate_model(model)
