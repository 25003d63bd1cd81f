"""Loading a version reads its `MLmodel` and its pickle, nothing else of the artifact.

A server reloads on every alias move; against a tracking server each artifact file is a request,
so the environment files, input examples and code folder are not fetched (issue 15). Proved on a
version whose other files all point nowhere: downloading any of them would fail.
"""

from __future__ import annotations

from pathlib import Path

from sentiment_mlops import registry
from tests.registry.conftest import LoggedModel

NEEDED = {"MLmodel", "model.pkl"}


def test_loading_reads_only_mlmodel_and_the_pickle(logged: LoggedModel) -> None:
    client = logged.tracker.client
    ref = registry.get_version(client, "registry-test-model", logged.version)
    model_id = logged.model_uri.removeprefix("models:/")
    folder = Path(client.get_logged_model(model_id).artifact_location.removeprefix("file://"))
    others = [path for path in folder.rglob("*") if path.is_file() and path.name not in NEEDED]
    assert others, f"expected environment files and code under {folder}"
    # The version is the module's shared one: its files are put back afterwards.
    kept = {path: path.read_bytes() for path in others}
    try:
        for path in others:
            path.unlink()
            path.symlink_to(path.with_name(path.name + ".missing"))  # a download would fail
        model = registry.load_model(client, ref)
    finally:
        for path, content in kept.items():
            path.unlink()
            path.write_bytes(content)

    texts = logged.split.test_texts[:5].tolist()
    assert model.predict_proba(texts).tolist() == logged.model.predict_proba(texts).tolist()
