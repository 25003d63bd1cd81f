"""The API serves a version from its compact scorer: no unpickling, no scikit-learn (issue 15).

Every logged version of our pipeline carries `core.compact_scorer`'s file beside its pickle.
The served process loads that (checked against the probabilities the pipeline gave its probe
texts when it was logged) and answers as the pickled pipeline does; a damaged or altered file
refuses the version, and a version logged before the file existed is unpickled as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from sentiment_mlops import registry
from sentiment_mlops.core.compact_file import COMPACT_FILE, COMPACT_METADATA_KEY, CompactModel
from sentiment_mlops.core.compact_scorer import CompactScorer
from sentiment_mlops.serving.app import create_app
from sentiment_mlops.serving.model_store import ModelStore
from tests.serving.helpers import MlflowStore, log_model, wait_until
from tests.support.processes import free_port
from tests.support.served_app import SERVED_APP_PRELUDE

TEXTS = [
    "A wonderful film: moving, funny and beautifully acted. I loved every minute.",
    "Dull, predictable and far too long. A complete waste of time.",
    "😀 Ça m'a plu — 好看!",
    "no known word: xqzv",
    "great acting but a terrible, boring plot " * 40,
]

# The app under uvicorn until its model is loaded; prints its answers and what it imported.
SERVE_BATCH = (
    SERVED_APP_PRELUDE
    + """
texts = json.loads(sys.argv[2])
answers = {
    "batch": httpx.post(f"{url}/predict/batch", json={"texts": texts}).json(),
    "single": [httpx.post(f"{url}/predict", json={"text": t}).json() for t in texts[:2]],
    "scoring_path": app.state.store.current.scoring_path,
    "modules": sorted(sys.modules),
}
print(json.dumps(answers))
server.should_exit = True
thread.join(60)
"""
)


def _log_version(mlflow_store: MlflowStore, name: str) -> tuple[str, Path]:
    """Log the store's model again as a new version of `name`; the version and its folder."""
    client = mlflow_store.client()
    run_id, uri = log_model(client, mlflow_store.experiment_id, mlflow_store.model)
    version = registry.register_version(client, name, uri, run_id, {}).version
    return version, mlflow_store.model_folder(uri)


def _promote(mlflow_store: MlflowStore, name: str, version: str) -> None:
    registry.promote(mlflow_store.client(), name, version, "champion")


def test_a_logged_version_carries_the_compact_scorer(mlflow_store: MlflowStore) -> None:
    folder = mlflow_store.model_folder(mlflow_store.model_uri)
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    assert mlmodel["metadata"][COMPACT_METADATA_KEY] == COMPACT_FILE
    assert mlmodel["flavors"]["sklearn"]["pickled_model"] == "model.pkl"  # as before
    scorer = CompactScorer.load((folder / COMPACT_FILE).read_bytes(), 1e-12)
    np.testing.assert_array_equal(
        scorer.predict_proba(TEXTS), mlflow_store.model.predict_proba(TEXTS)
    )


@pytest.mark.slow
def test_served_from_the_compact_scorer_nothing_of_scikit_learn_is_imported(
    mlflow_store: MlflowStore, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **{k: v for k, v in mlflow_store.env(PREDICTION_LOG_URL="off").items() if v is not None},
    }
    env.pop("MLFLOW_REGISTRY_URI", None)
    result = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", SERVE_BATCH, str(free_port()),
         json.dumps(TEXTS)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])
    assert answers["scoring_path"] == "compact"
    unwanted = ("sklearn", "scipy", "pandas", "mlflow")
    assert [m for m in answers["modules"] if m.split(".")[0] in unwanted] == []
    # The same probabilities as the pickled pipeline's, through both endpoints.
    expected = mlflow_store.model.predict_proba(TEXTS)
    assert _probabilities(answers["batch"]["predictions"]) == expected.tolist()
    assert _probabilities(answers["single"]) == expected[:2].tolist()


def _probabilities(predictions: list[dict[str, Any]]) -> list[list[float]]:
    return [[p["probabilities"][label] for label in ("negative", "positive")] for p in predictions]


@pytest.mark.slow  # two models trained and served: over a second of CPU
def test_an_altered_compact_scorer_refuses_its_version(mlflow_store: MlflowStore) -> None:
    name = "compact-tampered"
    good, _ = _log_version(mlflow_store, name)
    _promote(mlflow_store, name, good)
    store = ModelStore(mlflow_store.settings(model_name=name))
    assert store.check().outcome == "loaded"
    altered, folder = _log_version(mlflow_store, name)
    model = CompactModel.from_bytes((folder / COMPACT_FILE).read_bytes())
    coef = model.coef.copy()
    coef[::97] = -coef[::97]  # weights changed, the stored expectations kept
    (folder / COMPACT_FILE).write_bytes(replace(model, coef=coef).to_bytes())
    _promote(mlflow_store, name, altered)

    result = store.check()
    assert result.outcome == "refused"
    assert result.error is not None and "compact scorer refused" in result.error
    assert store.refused_versions == [altered]
    served = store.current
    assert served is not None and served.version == good and served.scoring_path == "compact"
    # A damaged file, too.
    damaged, folder = _log_version(mlflow_store, name)
    (folder / COMPACT_FILE).write_bytes((folder / COMPACT_FILE).read_bytes()[:1000])
    _promote(mlflow_store, name, damaged)
    assert store.check().outcome == "refused"
    assert store.current is served


def _log_version_without_compact_file(mlflow_store: MlflowStore, name: str) -> str:
    """A new version as logged before compact scorers: no file, no metadata key in `MLmodel`."""
    version, folder = _log_version(mlflow_store, name)
    (folder / COMPACT_FILE).unlink()
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    del mlmodel["metadata"][COMPACT_METADATA_KEY]
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return version


def test_a_version_without_the_file_is_unpickled_as_before(mlflow_store: MlflowStore) -> None:
    name = "compact-absent"
    version = _log_version_without_compact_file(mlflow_store, name)
    _promote(mlflow_store, name, version)
    store = ModelStore(mlflow_store.settings(model_name=name))
    assert store.check().outcome == "loaded"
    served = store.current
    assert served is not None and served.scoring_path == "lean"
    rows = served.predict(TEXTS)
    probabilities = [[row["probabilities"][label] for label in served.labels] for row in rows]
    assert probabilities == mlflow_store.model.predict_proba(TEXTS).tolist()


@pytest.mark.slow  # two models trained and served: over a second of CPU
def test_model_info_shows_how_the_champion_and_the_challenger_score(
    mlflow_store: MlflowStore,
) -> None:
    """Through the real app: the champion from its compact file, a challenger logged before
    compact files (unpickled, on the lean path) beside it in a canary rollout."""
    name = "compact-model-info"
    champion, _ = _log_version(mlflow_store, name)
    _promote(mlflow_store, name, champion)
    settings = mlflow_store.settings(
        model_name=name,
        rollout_mode="canary",
        canary_percent=10,
        model_reload_interval=0.2,  # the tests' default, 1 s, is waited for below
    )
    with TestClient(create_app(settings)) as http:
        wait_until(lambda: http.get("/health").status_code == 200, timeout=60)
        info = http.get("/model-info").json()
        assert (info["version"], info["scoring_path"]) == (champion, "compact")
        assert info["challenger"] is None
        challenger = _log_version_without_compact_file(mlflow_store, name)
        registry.set_alias(mlflow_store.client(), name, settings.challenger_alias, challenger)
        wait_until(lambda: http.get("/model-info").json()["challenger"] is not None, timeout=60)
        info = http.get("/model-info").json()
    assert (info["version"], info["scoring_path"]) == (champion, "compact")
    assert info["challenger"] == {
        "alias": settings.challenger_alias,
        "version": challenger,
        "scoring_path": "lean",
    }
