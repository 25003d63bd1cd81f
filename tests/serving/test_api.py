"""Every endpoint and every bad input, against the app in-process on a real SQLite MLflow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sentiment_mlops.serving.app import create_app
from sentiment_mlops.serving.batching import MicroBatcher
from sentiment_mlops.serving.served_model import ServedModel
from tests.serving.helpers import (
    ADMIN_TOKEN,
    MODEL_NAME,
    MlflowStore,
    alias_event,
    signed_delivery,
    wait_until,
)
from tests.serving.poisoned_model import POISON

POSITIVE = "A wonderful, moving film. The cast is brilliant and I loved every minute of it."
NEGATIVE = "Dull, boring and far too long. The plot is stupid and the acting is terrible."


@pytest.fixture(scope="module")
def api(mlflow_store: MlflowStore) -> Iterator[TestClient]:
    """The app serving the champion, once it has loaded."""
    app = create_app(mlflow_store.settings(max_text_chars=1000, max_batch_size=8))
    with TestClient(app) as client:
        wait_until(lambda: client.get("/health").status_code == 200, timeout=60)
        yield client


@pytest.fixture(scope="module")
def empty_api(mlflow_store: MlflowStore) -> Iterator[TestClient]:
    """The app for a model that has no champion: it never loads one."""
    settings = mlflow_store.settings(model_name="no-such-model", admin_token=None)
    with TestClient(create_app(settings)) as client:
        wait_until(lambda: client.app.state.store.stats.checks > 0, timeout=60)  # type: ignore[attr-defined]
        yield client


# --- health and model info --------------------------------------------------------------------
def test_health_is_200_with_a_model(api: TestClient) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "model_loaded": True, "model_version": "1"}


def test_health_is_503_without_a_model(empty_api: TestClient) -> None:
    response = empty_api.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "model_loaded": False, "model_version": None}
    assert empty_api.get("/health/live").status_code == 200


def test_predict_without_a_model_is_503(empty_api: TestClient) -> None:
    response = empty_api.post("/predict", json={"text": POSITIVE})
    assert response.status_code == 503
    assert "no model" in response.json()["detail"]
    assert empty_api.post("/predict/batch", json={"texts": [POSITIVE]}).status_code == 503


def test_liveness_is_200(api: TestClient) -> None:
    assert api.get("/health/live").json() == {"status": "alive"}


def test_model_info_names_the_served_version(api: TestClient, mlflow_store: MlflowStore) -> None:
    info = api.get("/model-info").json()
    assert info["model_loaded"] is True
    assert (info["name"], info["alias"], info["version"]) == (MODEL_NAME, "champion", "1")
    assert info["run_id"] == mlflow_store.run_id
    assert set(info["metrics"]) >= {"accuracy", "f1", "roc_auc"}
    assert info["loaded_at"] and info["last_reload_error"] is None


def test_model_info_without_a_model(empty_api: TestClient) -> None:
    info = empty_api.get("/model-info").json()
    assert info["model_loaded"] is False and info["version"] is None


# --- predictions -------------------------------------------------------------------------------
def test_predict_returns_class_and_probabilities(api: TestClient) -> None:
    body = api.post("/predict", json={"text": POSITIVE}).json()
    assert body["sentiment"] == "positive"
    assert body["model_version"] == "1"
    assert set(body["probabilities"]) == {"negative", "positive"}
    assert sum(body["probabilities"].values()) == pytest.approx(1.0)
    assert body["confidence"] == pytest.approx(max(body["probabilities"].values()))
    assert api.post("/predict", json={"text": NEGATIVE}).json()["sentiment"] == "negative"


def test_batch_keeps_the_order_and_matches_single_predictions(api: TestClient) -> None:
    texts = [POSITIVE, NEGATIVE, POSITIVE]
    body = api.post("/predict/batch", json={"texts": texts}).json()
    assert body["model_version"] == "1"
    assert [p["sentiment"] for p in body["predictions"]] == ["positive", "negative", "positive"]
    single = api.post("/predict", json={"text": NEGATIVE}).json()
    assert body["predictions"][1]["probabilities"] == pytest.approx(single["probabilities"])


def test_a_long_batch_is_answered(api: TestClient) -> None:
    """Over the inline limit the prediction runs in a worker thread; same answers."""
    texts = [POSITIVE * 9] * 8  # 8 x ~730 characters
    body = api.post("/predict/batch", json={"texts": texts}).json()
    assert [p["sentiment"] for p in body["predictions"]] == ["positive"] * 8


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x07 control characters \x1b[31m",
        "Emoji only 🎬🍿👍🏽",
        "x" * 1000,  # one very long word, at the limit
        "Ünïcödé — 映画はすばらしい — فيلم رائع",
        "\ud800 lone surrogate from JSON",
    ],
)
def test_odd_texts_are_answered(api: TestClient, text: str) -> None:
    body = json.dumps({"text": text})  # \ud800 stays an escape, valid JSON
    response = api.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code in {200, 422}, response.text
    if response.status_code == 200:
        assert response.json()["sentiment"] in {"positive", "negative"}


# --- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "field", "words"),
    [
        ("/predict", b'{"text": ""}', "body.text", "empty"),
        ("/predict", b'{"text": " \\n\\t "}', "body.text", "whitespace"),
        ("/predict", b"{}", "body.text", "required"),
        ("/predict", b'{"text": 42}', "body.text", "string"),
        ("/predict", b'{"text": ["a"]}', "body.text", "string"),
        ("/predict", b'{"text": "ok", "extra": 1}', "body.extra", "not permitted"),
        ("/predict", b'{"text": "ok"', "body", "json"),
        ("/predict", b"not json at all", "body", "json"),
        ("/predict", b"", "body", "json"),
        ("/predict", b"[1, 2]", "body", "object"),
        ("/predict", b'{"text": "caf\xe9"}', "body", "unicode"),  # Latin-1, not UTF-8
        ("/predict", b"\xff\xfe\x00\x00", "body", "json"),
        ("/predict", json.dumps({"text": "a" * 1001}).encode(), "body.text", "limit of 1000"),
        ("/predict/batch", b'{"texts": []}', "body.texts", "at least 1"),
        ("/predict/batch", json.dumps({"texts": ["a"] * 9}).encode(), "body.texts", "limit of 8"),
        ("/predict/batch", b'{"texts": ["ok", " "]}', "body.texts.1", "empty"),
        ("/predict/batch", b'{"texts": ["ok", 3]}', "body.texts.1", "string"),
        ("/predict/batch", b'{"texts": "ok"}', "body.texts", "array"),
        ("/predict/batch", b'{"text": "ok"}', "body.texts", "required"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    api: TestClient, path: str, body: bytes, field: str, words: str
) -> None:
    response = api.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert f"{field}:" in message
    assert words.lower() in message.lower()
    assert len(response.content) < 2000  # the input is not echoed back


def test_body_over_the_limit_is_413_before_parsing(mlflow_store: MlflowStore) -> None:
    app = create_app(mlflow_store.settings(max_body_bytes=2048))
    with TestClient(app) as client:  # no model needed: the body is refused first
        big = json.dumps({"text": "a" * 4000})
        response = client.post(
            "/predict", content=big, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert "2048 bytes" in response.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the size is counted as it streams
            yield b'{"text": "'
            for _ in range(10):
                yield b"a" * 500
            yield b'"}'

        response = client.post("/predict", content=chunks())
        assert response.status_code == 413
        small = client.post("/predict", content=iter([b'{"text": ', b'""}']))
        assert small.status_code == 422  # a small streamed body reaches validation


# --- admin -------------------------------------------------------------------------------------
def test_admin_reload_without_configured_token_is_403(empty_api: TestClient) -> None:
    response = empty_api.post("/admin/reload", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 403
    assert "ADMIN_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
    ],
)
def test_admin_reload_with_missing_or_wrong_token_is_401(
    api: TestClient, headers: dict[str, str]
) -> None:
    response = api.post("/admin/reload", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_admin_reload_with_the_token_reports_no_change(api: TestClient) -> None:
    response = api.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200
    assert response.json() == {
        "changed": False,
        "outcome": "unchanged",
        "version": "1",
        "previous_version": "1",
        "error": None,
    }


# --- webhooks ----------------------------------------------------------------------------------
def test_signed_alias_event_triggers_a_check(api: TestClient) -> None:
    store = api.app.state.store  # type: ignore[attr-defined]
    checks = store.stats.checks
    response = api.post("/webhooks/mlflow", **signed_delivery(alias_event()))
    assert response.status_code == 200
    assert response.json()["accepted"] is True
    wait_until(lambda: store.stats.checks > checks, timeout=10)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (alias_event(name="other-model"), "other-model"),
        (alias_event(alias="challenger"), "challenger"),
        (alias_event(name="example_model", alias="example_alias"), "test delivery"),
        ({**alias_event(), "entity": "model_version", "action": "created"}, "is not"),
    ],
)
def test_other_events_are_acknowledged_and_ignored(
    api: TestClient, event: dict, reason: str
) -> None:
    response = api.post("/webhooks/mlflow", **signed_delivery(event))
    assert response.status_code == 200
    assert response.json()["accepted"] is False
    assert reason in response.json()["reason"]


def test_bad_signatures_are_401(api: TestClient) -> None:
    wrong_secret = api.post("/webhooks/mlflow", **signed_delivery(alias_event(), secret="nope"))
    assert wrong_secret.status_code == 401
    assert "signature" in wrong_secret.json()["detail"]
    stale = api.post("/webhooks/mlflow", **signed_delivery(alias_event(), age=3600))
    assert stale.status_code == 401
    assert "Timestamp" in stale.json()["detail"]
    tampered = signed_delivery(alias_event())
    tampered["content"] = tampered["content"].replace(b"champion", b"champio0")
    assert api.post("/webhooks/mlflow", **tampered).status_code == 401
    unsigned = api.post("/webhooks/mlflow", json=alias_event())
    assert unsigned.status_code == 401


def test_a_replayed_delivery_is_ignored(api: TestClient) -> None:
    delivery = signed_delivery(alias_event(), delivery_id="fixed-id")
    assert api.post("/webhooks/mlflow", **delivery).json()["accepted"] is True
    again = api.post("/webhooks/mlflow", **delivery)
    assert again.status_code == 200
    assert again.json() == {"accepted": False, "reason": "duplicate delivery"}


def test_webhooks_are_404_without_a_secret(mlflow_store: MlflowStore) -> None:
    app = create_app(mlflow_store.settings(webhook_secret=None))
    with TestClient(app) as client:
        response = client.post("/webhooks/mlflow", **signed_delivery(alias_event()))
        assert response.status_code == 404
        assert "WEBHOOK_SECRET" in response.json()["detail"]


# --- metrics and docs --------------------------------------------------------------------------
def test_metrics_count_requests_predictions_and_the_model(api: TestClient) -> None:
    api.post("/predict", json={"text": POSITIVE})
    api.post("/predict", json={"text": ""})
    text = api.get("/metrics").text
    assert 'sentiment_http_requests_total{endpoint="/predict",method="POST",status="200"}' in text
    assert 'sentiment_http_requests_total{endpoint="/predict",method="POST",status="422"}' in text
    assert 'sentiment_http_request_duration_seconds_bucket{endpoint="/predict"' in text
    assert 'sentiment_predictions_total{sentiment="positive"}' in text
    assert "sentiment_model_version 1.0" in text
    assert (
        'sentiment_model_info{alias="champion",name="sentiment-classifier",version="1"} 1.0' in text
    )
    assert 'sentiment_model_reload_failures_total{stage="load"} 0.0' in text


def test_openapi_documents_bodies_with_examples(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    predict = spec["paths"]["/predict"]["post"]
    schema = predict["requestBody"]["content"]["application/json"]["schema"]
    assert schema["examples"][0]["text"]
    assert "422" in predict["responses"] and "503" in predict["responses"]
    assert "examples" in spec["components"]["schemas"]["Prediction"]
    assert "/predict/batch" in spec["paths"] and "/admin/reload" in spec["paths"]
    assert api.get("/docs").status_code == 200


# --- micro-batching ----------------------------------------------------------------------------
class CountingModel:
    """The real pipeline, counting its predict_proba calls."""

    def __init__(self, model: object) -> None:
        self.model = model
        self.calls: list[int] = []

    def predict_proba(self, texts: list[str]) -> object:
        self.calls.append(len(texts))
        return self.model.predict_proba(texts)  # type: ignore[attr-defined]


def _served(model: object, version: str) -> ServedModel:
    from datetime import UTC, datetime

    from sentiment_mlops.registry import ModelRef

    ref = ModelRef(name=MODEL_NAME, version=version, run_id=None)
    return ServedModel(model, ref, ("negative", "positive"), {}, datetime.now(UTC))


def test_requests_of_one_loop_turn_share_one_call(mlflow_store: MlflowStore) -> None:
    model = CountingModel(mlflow_store.model)
    served = _served(model, "1")
    other = _served(CountingModel(mlflow_store.model), "2")  # a swap in between
    texts = [POSITIVE, NEGATIVE, "meh", POSITIVE, NEGATIVE]

    async def run() -> list[list[dict]]:
        batcher = MicroBatcher()
        calls = [batcher.predict(served, [text]) for text in texts]
        calls.append(batcher.predict(served, [NEGATIVE, POSITIVE]))
        calls.append(batcher.predict(other, [POSITIVE]))
        return await asyncio.gather(*calls)

    results = asyncio.run(run())
    assert model.calls == [7]  # one vectorised call for the seven texts of version 1
    expected = served.predict([*texts, NEGATIVE, POSITIVE])
    assert [r[0] for r in results[:5]] + results[5] == expected
    assert results[6][0]["model_version"] == "2"


def test_a_batch_is_bounded_in_characters(mlflow_store: MlflowStore) -> None:
    model = CountingModel(mlflow_store.model)
    served = _served(model, "1")

    async def run() -> None:
        batcher = MicroBatcher(max_chars=2 * len(POSITIVE))
        await asyncio.gather(*(batcher.predict(served, [POSITIVE]) for _ in range(5)))

    asyncio.run(run())
    assert model.calls == [2, 2, 1]


class PoisonedModel(CountingModel):
    """The real pipeline, counting its calls and raising on POISON."""

    def predict_proba(self, texts: list[str]) -> object:
        self.calls.append(len(texts))
        if POISON in texts:
            raise ValueError("the model cannot handle this text")
        return self.model.predict_proba(texts)  # type: ignore[attr-defined]


def test_a_text_that_breaks_the_model_fails_only_its_own_request(
    mlflow_store: MlflowStore,
) -> None:
    model = PoisonedModel(mlflow_store.model)
    served = _served(model, "1")
    requests = [[POSITIVE], [NEGATIVE], [POISON], [NEGATIVE, POSITIVE], ["meh"]]

    async def run() -> list[object]:
        batcher = MicroBatcher()
        calls = [batcher.predict(served, texts) for texts in requests]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(run())
    assert model.calls[0] == 6  # they shared one call, which failed
    assert isinstance(results[2], ValueError)
    for texts, result in zip(requests, results, strict=True):
        if texts != [POISON]:
            assert result == _served(mlflow_store.model, "1").predict(texts)


def test_openapi_states_the_configured_limits(api: TestClient) -> None:
    """The documented bodies carry the limits in force (this app: 1000 characters, 8 texts)."""
    spec = api.get("/openapi.json").json()

    def body_schema(path: str) -> dict:
        return spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]

    text = body_schema("/predict")["properties"]["text"]
    assert (text["minLength"], text["maxLength"], text["pattern"]) == (1, 1000, r"\S")
    texts = body_schema("/predict/batch")["properties"]["texts"]
    assert (texts["minItems"], texts["maxItems"]) == (1, 8)
    assert texts["items"]["maxLength"] == 1000
    assert body_schema("/predict")["additionalProperties"] is False
