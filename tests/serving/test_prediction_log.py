"""The prediction log: an id in every answer, rows that match the answers (on PostgreSQL with
texts, on SQLite with hashes only, from a served process), sampling, and retention."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from sentiment_mlops.monitoring import tables
from sentiment_mlops.serving.app import create_app
from tests.serving.helpers import MODEL_NAME, MlflowStore, wait_until
from tests.serving.log_support import LoggedService

TEXTS = [
    "A wonderful, moving film. The cast is brilliant and I loved every minute of it.",
    "Dull, boring and far too long. The plot is stupid and the acting is terrible.",
    "Ça m'a plu 🎬 — 好看!",
    "NUL \u0000 is valid JSON, and PostgreSQL text cannot hold it",
]
HEX_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(params=["sqlite", "postgres"])
def logged(request: pytest.FixtureRequest) -> LoggedService:
    return request.getfixturevalue(f"{request.param}_logged")


def test_every_answer_is_logged_under_its_id(logged: LoggedService) -> None:
    single = logged.http.post("/predict", json={"text": TEXTS[0]})
    batch = logged.http.post("/predict/batch", json={"texts": TEXTS})
    assert single.status_code == batch.status_code == 200
    answers = [(TEXTS[0], single.json(), "single")]
    answers += [(t, a, "batch") for t, a in zip(TEXTS, batch.json()["predictions"], strict=True)]
    ids = [answer["prediction_id"] for _, answer, _ in answers]
    assert all(HEX_ID.match(i) for i in ids) and len(set(ids)) == len(ids), ids

    rows = wait_until(lambda: r if len(r := logged.rows(ids)) == len(ids) else None, timeout=30)
    texts_logged = logged.log_url.startswith("postgresql")
    for text, answer, kind in answers:
        row = rows[answer["prediction_id"]]
        assert (row.model_name, row.model_version) == (MODEL_NAME, answer["model_version"])
        assert row.p_negative == answer["probabilities"]["negative"]
        assert row.p_positive == answer["probabilities"]["positive"]
        assert row.label == answer["sentiment"] and row.request_kind == kind
        assert row.text == (text.replace("\x00", "\ufffd") if texts_logged else None)
        assert row.text_sha256 == hashlib.sha256(text.encode()).hexdigest()
        assert row.text_length == len(text)
        assert 0 < row.latency_ms < 60_000
        assert abs(row.created_at.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(hours=1)
    assert logged.metric("sentiment_prediction_log_written_total") >= len(ids)
    assert logged.metric("sentiment_prediction_log_dropped_total") == 0


def test_sample_rate_zero_logs_nothing(mlflow_store: MlflowStore, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    settings = mlflow_store.settings(
        prediction_log_url=url, prediction_log_sample_rate=0.0, prediction_log_flush_interval=0
    )
    with TestClient(create_app(settings)) as client:
        wait_until(lambda: client.get("/health").status_code == 200, timeout=60)
        answers = [client.post("/predict", json={"text": t}).json() for t in TEXTS]
        answers += client.post("/predict/batch", json={"texts": TEXTS}).json()["predictions"]
        assert [a["prediction_id"] for a in answers] == [None] * 2 * len(TEXTS)
        metrics = client.get("/metrics").text
        assert f"sentiment_prediction_log_sampled_out_total {2 * len(TEXTS)}.0" in metrics
        assert "sentiment_prediction_log_written_total 0.0" in metrics
    # The writer made its tables at start; nothing went into them.
    assert LoggedService(client, url).count() == 0


def test_logging_off_answers_without_ids_and_refuses_feedback(mlflow_store: MlflowStore) -> None:
    with TestClient(create_app(mlflow_store.settings(prediction_log_url="off"))) as client:
        wait_until(lambda: client.get("/health").status_code == 200, timeout=60)
        assert client.post("/predict", json={"text": TEXTS[0]}).json()["prediction_id"] is None
        response = client.post("/feedback", json={"prediction_id": "0" * 32, "label": "positive"})
        assert response.status_code == 404
        assert "PREDICTION_LOG_URL" in response.json()["detail"]
        assert "sentiment_prediction_log_written_total" not in client.get("/metrics").text


def test_retention_deletes_rows_older_than_the_setting(sqlite_logged: LoggedService) -> None:
    """The service keeps 1 day and checks every 0.2 s: a row of 2 days ago (with its feedback)
    goes, a fresh one stays."""
    old_id = uuid.uuid4().hex
    old = {
        "id": old_id,
        "created_at": datetime.now(UTC) - timedelta(days=2),
        "model_name": MODEL_NAME,
        "model_version": "1",
        "text": "old",
        "text_sha256": "0" * 64,
        "text_length": 3,
        "p_negative": 0.5,
        "p_positive": 0.5,
        "label": "negative",
        "latency_ms": 1.0,
        "request_kind": "single",
    }
    fresh_id = sqlite_logged.http.post("/predict", json={"text": TEXTS[1]}).json()["prediction_id"]
    # Feedback on an id the store lacks flushes the queue before its 404: the fresh row is
    # written now, not after the writer's 1 s of gathering.
    unknown = {"prediction_id": "f" * 32, "label": "negative"}
    assert sqlite_logged.http.post("/feedback", json=unknown).status_code == 404
    wait_until(lambda: sqlite_logged.rows([fresh_id]), timeout=30)
    sqlite_logged.execute(insert(tables.predictions).values(old))
    sqlite_logged.execute(
        insert(tables.feedback).values(
            prediction_id=old_id, label="negative", received_at=datetime.now(UTC)
        )
    )
    wait_until(lambda: old_id not in sqlite_logged.rows([old_id, fresh_id]), timeout=30)
    # A later pass, shown by a second old row going too, still keeps the fresh one.
    later_id = uuid.uuid4().hex
    sqlite_logged.execute(insert(tables.predictions).values(old | {"id": later_id}))
    wait_until(lambda: later_id not in sqlite_logged.rows([later_id, fresh_id]), timeout=30)
    assert set(sqlite_logged.rows([old_id, later_id, fresh_id])) == {fresh_id}


def test_a_backlog_is_written_without_waiting_for_the_flush_interval(
    mlflow_store: MlflowStore, tmp_path: Path
) -> None:
    """The writer gathers for up to 120 s here, but a full batch (1,000 rows) goes at once: under
    load it inserts back to back instead of capping its rate at one batch per interval."""
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    settings = mlflow_store.settings(prediction_log_url=url, prediction_log_flush_interval=120)
    texts = [f"{TEXTS[i % 2]} ({i})" for i in range(256)]
    with TestClient(create_app(settings)) as client:
        wait_until(lambda: client.get("/health").status_code == 200, timeout=60)
        for _ in range(8):
            assert client.post("/predict/batch", json={"texts": texts}).status_code == 200
        service = LoggedService(client, url)
        wait_until(lambda: service.count() >= 2000, timeout=60)
        assert client.get("/metrics").status_code == 200
