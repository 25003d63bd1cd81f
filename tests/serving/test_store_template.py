"""Each session's trained store is a copy of one template: its own, wherever it was put."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentiment_mlops import registry
from tests.serving.helpers import MODEL_NAME
from tests.serving.store_template import copy_trained_store


def test_copies_point_at_their_own_folder_and_change_alone(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_store_template: Path
) -> None:
    first = copy_trained_store(request, tmp_path / "first", migrated_store_template)
    second = copy_trained_store(request, tmp_path / "second", migrated_store_template)

    for store in (first, second):
        client = store.client()
        model_id = store.model_uri.removeprefix("models:/")
        location = client.get_logged_model(model_id).artifact_location
        assert location.startswith(f"file://{store.root}/"), location
        assert client.get_run(store.run_id).info.artifact_uri.startswith(f"file://{store.root}/")
        for mlmodel in store.root.rglob("MLmodel"):
            assert f"file://{store.root}/" in mlmodel.read_text()
        version = client.get_model_version_by_alias(MODEL_NAME, "champion")
        assert str(version.version) == "1"

    assert first.register(MODEL_NAME) == "2"
    versions = registry.make_client(second.settings()).search_model_versions(f"name='{MODEL_NAME}'")
    assert [str(v.version) for v in versions] == ["1"]
