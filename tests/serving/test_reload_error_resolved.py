"""`/model-info` keeps the last reload error after a later success, marked resolved, so an
operator sees both what failed and that it is over."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from sentiment_mlops import registry
from sentiment_mlops.serving.app import create_app
from tests.serving.helpers import ADMIN_TOKEN, MlflowStore, wait_until

RESOLVE_MODEL = "resolve-model"  # its own registered model: other tests keep their champion
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.mark.slow  # three versions registered and served: over a second of CPU
def test_a_reload_error_is_resolved_by_a_later_good_version(mlflow_store: MlflowStore) -> None:
    client = mlflow_store.client()
    good = mlflow_store.register(RESOLVE_MODEL)
    registry.promote(client, RESOLVE_MODEL, good, "champion")
    # Checks happen only when asked for (after the first), so each step is deterministic.
    settings = mlflow_store.settings(model_name=RESOLVE_MODEL, model_reload_interval=3600)
    with TestClient(create_app(settings)) as http:
        wait_until(lambda: http.get("/health").status_code == 200, timeout=60)
        assert http.get("/model-info").json()["last_reload_error"] is None

        broken = mlflow_store.register(RESOLVE_MODEL, mlflow_store.log_broken_model())
        registry.promote(client, RESOLVE_MODEL, broken, "champion")
        assert http.post("/admin/reload", headers=ADMIN).status_code == 502
        error = http.get("/model-info").json()["last_reload_error"]
        assert (error["stage"], error["version"]) == ("load", broken)
        assert error["resolved"] is False
        assert error["resolved_at"] is None and error["resolved_version"] is None
        # Asked again while the broken version is still the champion: still unresolved.
        assert http.post("/admin/reload", headers=ADMIN).status_code == 502
        assert http.get("/model-info").json()["last_reload_error"]["resolved"] is False

        fixed = mlflow_store.register(RESOLVE_MODEL)
        registry.promote(client, RESOLVE_MODEL, fixed, "champion")
        reload = http.post("/admin/reload", headers=ADMIN)
        assert reload.status_code == 200 and reload.json()["version"] == fixed
        info = http.get("/model-info").json()
        assert info["version"] == fixed
        error = info["last_reload_error"]
        assert (error["stage"], error["version"]) == ("load", broken)  # still shown ...
        assert error["resolved"] is True  # ... as over, since then, by this version
        assert error["resolved_version"] == fixed
        assert datetime.fromisoformat(error["resolved_at"]) >= datetime.fromisoformat(error["at"])
