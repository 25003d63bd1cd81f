"""Feedback on a real server: labels stored against logged predictions, the duplicate rule, bad
input, and live accuracy per version against a hand computation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert

from sentiment_mlops.monitoring import tables
from tests.serving.helpers import MODEL_NAME
from tests.serving.log_support import LoggedService

POSITIVE = "A wonderful, moving film. The cast is brilliant and I loved every minute of it."
NEGATIVE = "Dull, boring and far too long. The plot is stupid and the acting is terrible."
OTHER = {"positive": "negative", "negative": "positive"}


def _predict(service: LoggedService, *texts: str) -> list[dict[str, Any]]:
    response = service.http.post("/predict/batch", json={"texts": list(texts)})
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_feedback_right_after_predict_is_stored(sqlite_logged: LoggedService) -> None:
    """The writer gathers for 1 s, so the prediction is still queued: feedback flushes it."""
    answer = sqlite_logged.http.post("/predict", json={"text": POSITIVE}).json()
    label = OTHER[answer["sentiment"]]
    body = {"prediction_id": answer["prediction_id"], "label": label}
    response = sqlite_logged.http.post("/feedback", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "prediction_id": answer["prediction_id"],
        "label": label,
        "predicted_label": answer["sentiment"],
        "correct": False,
        "model_version": answer["model_version"],
        "already_recorded": False,
    }


def test_the_same_label_again_is_accepted_a_different_one_is_409(
    sqlite_logged: LoggedService,
) -> None:
    answer = _predict(sqlite_logged, NEGATIVE)[0]
    body = {"prediction_id": answer["prediction_id"], "label": answer["sentiment"]}
    first = sqlite_logged.http.post("/feedback", json=body)
    again = sqlite_logged.http.post("/feedback", json=body)
    assert first.status_code == again.status_code == 200
    assert (first.json()["already_recorded"], again.json()["already_recorded"]) == (False, True)
    assert first.json()["correct"] is True

    conflict = {**body, "label": OTHER[answer["sentiment"]]}
    response = sqlite_logged.http.post("/feedback", json=conflict)
    assert response.status_code == 409
    assert answer["prediction_id"] in response.json()["detail"]
    # The first label stands.
    assert sqlite_logged.http.post("/feedback", json=body).json()["already_recorded"] is True


def test_unknown_id_is_404_naming_it(sqlite_logged: LoggedService) -> None:
    unknown = uuid.uuid4().hex
    response = sqlite_logged.http.post(
        "/feedback", json={"prediction_id": unknown, "label": "positive"}
    )
    assert response.status_code == 404
    assert "prediction_id" in response.json()["detail"] and unknown in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prediction_id": "not-an-id", "label": "positive"}, "prediction_id"),
        ({"prediction_id": "A" * 32, "label": "positive"}, "prediction_id"),
        ({"prediction_id": 12345, "label": "positive"}, "prediction_id"),
        ({"prediction_id": "0" * 32, "label": "neutral"}, "label"),
        ({"prediction_id": "0" * 32, "label": 1}, "label"),
        ({"prediction_id": "0" * 32}, "label"),
        ({"label": "positive"}, "prediction_id"),
        ({"prediction_id": "0" * 32, "label": "positive", "extra": 1}, "extra"),
    ],
)
def test_bad_feedback_is_422_naming_the_field(
    sqlite_logged: LoggedService, body: dict[str, Any], field: str
) -> None:
    response = sqlite_logged.http.post("/feedback", json=body)
    assert response.status_code == 422, response.text
    assert f"body.{field}" in response.json()["message"]


def test_bad_batch_feedback_is_422_naming_the_item(sqlite_logged: LoggedService) -> None:
    items = [{"prediction_id": "0" * 32, "label": "positive"}, {"prediction_id": "x", "label": 2}]
    response = sqlite_logged.http.post("/feedback/batch", json={"items": items})
    assert response.status_code == 422
    message = response.json()["message"]
    assert "body.items.1.prediction_id" in message and "body.items.1.label" in message
    empty = sqlite_logged.http.post("/feedback/batch", json={"items": []})
    assert empty.status_code == 422 and "body.items" in empty.json()["message"]


def test_batch_feedback_is_stored_all_or_none(sqlite_logged: LoggedService) -> None:
    first, second = _predict(sqlite_logged, POSITIVE, NEGATIVE)
    unknown = uuid.uuid4().hex
    items = [
        {"prediction_id": first["prediction_id"], "label": "positive"},
        {"prediction_id": unknown, "label": "negative"},
    ]
    response = sqlite_logged.http.post("/feedback/batch", json={"items": items})
    assert response.status_code == 404 and unknown in response.json()["detail"]

    # Nothing of that batch was stored: the first prediction takes a different label now.
    items = [
        {"prediction_id": first["prediction_id"], "label": "negative"},
        {"prediction_id": second["prediction_id"], "label": "negative"},
    ]
    response = sqlite_logged.http.post("/feedback/batch", json={"items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["prediction_id"] for r in results] == [
        first["prediction_id"],
        second["prediction_id"],
    ]
    assert [r["already_recorded"] for r in results] == [False, False]
    assert [r["correct"] for r in results] == [
        first["sentiment"] == "negative",
        second["sentiment"] == "negative",
    ]


def _logged_prediction(service: LoggedService, version: str, label: str) -> str:
    """A prediction row of another version of the model, as another server would have logged."""
    prediction_id = uuid.uuid4().hex
    row = {
        "id": prediction_id,
        "created_at": datetime.now(UTC),
        "model_name": MODEL_NAME,
        "model_version": version,
        "text": None,
        "text_sha256": "0" * 64,
        "text_length": 1,
        "p_negative": 0.9 if label == "negative" else 0.1,
        "p_positive": 0.1 if label == "negative" else 0.9,
        "label": label,
        "latency_ms": 1.0,
        "request_kind": "single",
    }
    service.execute(insert(tables.predictions).values(row))
    return prediction_id


def test_live_accuracy_per_version_over_the_last_window(sqlite_logged: LoggedService) -> None:
    """FEEDBACK_WINDOW is 4 on this service. Version 901 gets 6 labels, right or wrong in this
    order: wrong, wrong, right, right, right, wrong; its window holds the last 4 (3 right of 4).
    Version 902 gets 2 right labels."""
    outcomes = {"901": [False, False, True, True, True, False], "902": [True, True]}
    for version, rights in outcomes.items():
        for right in rights:
            prediction_id = _logged_prediction(sqlite_logged, version, "positive")
            label = "positive" if right else "negative"
            body = {"prediction_id": prediction_id, "label": label}
            response = sqlite_logged.http.post("/feedback", json=body)
            assert response.status_code == 200 and response.json()["correct"] is right

    expected = {"901": (0.75, 4), "902": (1.0, 2)}
    for version, (accuracy, labelled) in expected.items():
        labels = f'{{name="{MODEL_NAME}",version="{version}"}}'
        assert sqlite_logged.metric("sentiment_live_accuracy", labels) == accuracy
        assert sqlite_logged.metric("sentiment_live_accuracy_labelled", labels) == labelled
    info = sqlite_logged.http.get("/model-info").json()
    assert info["live_accuracy_window"] == 4
    by_version = {entry["model_version"]: entry for entry in info["live_accuracy"]}
    for version, (accuracy, labelled) in expected.items():
        assert by_version[version] == {
            "model_version": version,
            "accuracy": accuracy,
            "labelled": labelled,
        }
