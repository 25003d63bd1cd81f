"""What the shadow scorer's child process is given, and how it logs (issue 13).

A real child process, started by the real `ShadowScorer` on an event loop, loading from a
tracking server that cannot be reached and whose URL carries a password: its error names that
URL, and must reach the log as the server's own lines do, cleaned.
"""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import UTC, datetime

import pytest

from sentiment_mlops import registry
from sentiment_mlops.model_ref import ModelRef
from sentiment_mlops.process import configure_process
from sentiment_mlops.serving.served_model import ServedModel, validate_model
from sentiment_mlops.serving.shadow_child import CHILD_FIELDS, child_settings
from sentiment_mlops.serving.shadow_scorer import ScoredBatch, ShadowScorer
from sentiment_mlops.settings import Settings
from tests.serving.helpers import MlflowStore

MODEL_NAME = "shadow-child-model"  # its own registered model: other tests keep their aliases
PASSWORD = "pw-5f3e0c1d-secret"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_child_is_sent_the_registry_settings_only(mlflow_store: MlflowStore) -> None:
    settings = mlflow_store.settings(
        mlflow_tracking_uri=f"http://user:{PASSWORD}@mlflow.example:5000",
        mlflow_http_max_retries=0,
        log_level="DEBUG",
    )
    sent = child_settings(settings)
    assert sent.registry_uri == settings.registry_uri
    assert (sent.mlflow_http_max_retries, sent.log_level) == (0, "DEBUG")
    # The server's own secrets and the rest of its configuration stay in the server.
    assert settings.admin_token is not None and settings.webhook_secret is not None
    assert sent.admin_token is None and sent.webhook_secret is None
    assert sent.model_fields_set <= CHILD_FIELDS


@pytest.fixture(scope="module")
def served(mlflow_store: MlflowStore) -> ServedModel:
    """A version of the store, loaded as the server's store loads it."""
    ref = ModelRef(MODEL_NAME, mlflow_store.register(MODEL_NAME), None)
    model = registry.load_model(mlflow_store.client(), ref)
    return ServedModel(model, ref, validate_model(model), {}, datetime.now(UTC))


def _scored(settings: Settings, served: ServedModel, texts: list[str]) -> list[ScoredBatch]:
    """Start a scorer, hand it `texts` in one loop turn as one answer each (the champion said
    "positive", none logged) and collect what comes back until every text is accounted for."""
    batches: list[ScoredBatch] = []

    async def score() -> None:
        scorer = ShadowScorer(settings, len(texts), batches.append)
        scorer.start()
        try:
            for text in texts:
                answer = {"sentiment": "positive", "prediction_id": None}
                assert scorer.submit(served, [text], [answer], 0.0) == 0
            for _ in range(1200):  # the child starts, imports, loads, scores
                if sum(batch.scored.texts for batch in batches) == len(texts):
                    return
                await asyncio.sleep(0.1)
        finally:
            scorer.stop()

    asyncio.run(score())
    return batches


def test_the_child_compares_and_counts_and_answers_in_bulk(
    mlflow_store: MlflowStore, served: ServedModel
) -> None:
    """The server gets counts, not a score per text, and one frame for what the child took
    in at once (here 200 texts, one write): folding scores is work on the event loop."""
    texts = [f"{'A wonderful film.' if i % 2 else 'A dreadful bore.'} ({i})" for i in range(200)]
    settings = mlflow_store.settings(model_name=MODEL_NAME)
    [batch] = _scored(settings, served, texts)
    scored = batch.scored
    assert scored.version == served.version and scored.texts == len(texts)
    labels = [answer["sentiment"] for answer in served.predict(texts)]
    assert scored.labels == {label: labels.count(label) for label in set(labels)}
    assert scored.agreed == labels.count("positive")  # the champion said "positive" each time
    assert scored.logged == [] and batch.logged == []  # nothing logged: no score sent back


@pytest.mark.slow  # a shadow scorer process: over a second of CPU
def test_the_child_logs_as_the_server_with_credentials_masked(
    mlflow_store: MlflowStore, served: ServedModel, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = mlflow_store.settings(
        model_name=MODEL_NAME,
        mlflow_tracking_uri=f"http://user:{PASSWORD}@127.0.0.1:{_closed_port()}",
        mlflow_http_max_retries=0,
        mlflow_http_timeout=2,
    )
    environ = dict(os.environ)
    configure_process(settings)  # as the API's lifespan does before the scorer starts
    try:
        [batch] = _scored(settings, served, ["A fine film."])
    finally:  # the next tests' MLflow calls go to their own stores
        os.environ.clear()
        os.environ.update(environ)
    assert batch.scored.version is None and batch.scored.texts == 1  # counted as unscored
    logged = capfd.readouterr().err
    assert f"could not load version {served.version}" in logged
    assert "ERROR sentiment_mlops.serving.shadow_child:" in logged  # the server's format
    assert "http://[REDACTED]@127.0.0.1" in logged
    assert PASSWORD not in logged
