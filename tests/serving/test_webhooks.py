"""Signature checks and event decisions of the webhook receiver, as pure functions; webhook
registration against a real `mlflow server`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from sentiment_mlops import registry
from sentiment_mlops.serving.webhooks import (
    SeenDeliveries,
    WebhookConfigError,
    WebhookError,
    decide,
    register_webhook,
    sign,
    verify_delivery,
)
from sentiment_mlops.settings import Settings
from tests.serving.helpers import MlflowStore, mlflow_server
from tests.support.processes import free_port

NOW = 1_750_000_000
BODY = b'{"entity": "model_version_alias", "action": "created"}'


def _headers(secret: str = "s3cret", timestamp: int = NOW, delivery_id: str = "abc") -> dict:
    return {
        "x-mlflow-delivery-id": delivery_id,
        "x-mlflow-timestamp": str(timestamp),
        "x-mlflow-signature": sign(secret, delivery_id, str(timestamp), BODY),
    }


def test_signature_matches_mlflows_own() -> None:
    from mlflow.webhooks.delivery import _generate_hmac_signature

    expected = _generate_hmac_signature("s3cret", "abc", str(NOW), BODY.decode())
    assert sign("s3cret", "abc", str(NOW), BODY) == expected


def test_a_valid_delivery_returns_its_id() -> None:
    assert verify_delivery("s3cret", _headers(), BODY, NOW + 10) == "abc"


def test_one_of_several_signatures_may_match() -> None:
    headers = _headers()
    headers["x-mlflow-signature"] = "v1,b2xk " + headers["x-mlflow-signature"]
    assert verify_delivery("s3cret", headers, BODY, NOW) == "abc"


@pytest.mark.parametrize(
    ("headers", "body", "now", "words"),
    [
        (_headers(secret="other"), BODY, NOW, "does not match"),
        (_headers(), BODY + b" ", NOW, "does not match"),
        (_headers(), BODY, NOW + 301, "300 s"),
        (_headers(), BODY, NOW - 301, "300 s"),
        ({**_headers(), "x-mlflow-timestamp": "yesterday"}, BODY, NOW, "Unix timestamp"),
        ({**_headers(), "x-mlflow-signature": ""}, BODY, NOW, "missing"),
        ({}, BODY, NOW, "missing"),
        ({**_headers(), "x-mlflow-delivery-id": "other"}, BODY, NOW, "does not match"),
    ],
)
def test_bad_deliveries_are_refused(headers: dict, body: bytes, now: int, words: str) -> None:
    with pytest.raises(WebhookError, match=words):
        verify_delivery("s3cret", headers, body, now)


def _event(name: str = "m", alias: str = "champion", kind: str = "model_version_alias") -> dict:
    data = {"name": name, "alias": alias, "version": "7"}
    return {"entity": kind, "action": "created", "data": data}


@pytest.mark.parametrize(
    ("event", "reload"),
    [
        (_event(), True),
        (_event(name="other"), False),
        (_event(alias="previous"), False),
        (_event(kind="model_version"), False),
        (_event(name="example_model", alias="example_alias"), False),
        ({"entity": "model_version_alias"}, False),
        ([1, 2], False),
    ],
)
def test_only_our_champion_alias_reloads(event: object, reload: bool) -> None:
    assert decide(event, "m", "champion").reload is reload


def test_seen_deliveries_forget_the_oldest() -> None:
    seen = SeenDeliveries(size=2)
    assert seen.add("a") and seen.add("b") and not seen.add("b")
    assert seen.add("c") and seen.add("a")  # "a" was forgotten


def test_register_needs_url_and_secret(mlflow_store: MlflowStore) -> None:
    with pytest.raises(WebhookConfigError, match="WEBHOOK_URL"):
        register_webhook(mlflow_store.settings(webhook_url=None))
    with pytest.raises(WebhookConfigError, match="WEBHOOK_SECRET"):
        register_webhook(mlflow_store.settings(webhook_url="http://x/", webhook_secret=None))


@pytest.mark.slow
def test_apis_with_their_own_webhook_names_keep_their_own_webhooks(
    mlflow_store: MlflowStore, tmp_path: Path
) -> None:
    """A production and a canary API registering against one MLflow server. Registration
    updates the webhook of its name: under the one default name (per model and alias) the
    second API would take the first one's webhook over, and MLflow would call only it."""
    db = tmp_path / "server.db"
    shutil.copy(mlflow_store.db, db)
    urls = {
        name: f"http://127.0.0.1:{free_port()}/webhooks/mlflow"
        for name in ("sentiment-production", "sentiment-canary", None)
    }
    with mlflow_server(db, free_port(), tmp_path) as server_url:

        def settings(name: str | None) -> Settings:
            return mlflow_store.settings(
                mlflow_tracking_uri=server_url, webhook_url=urls[name], webhook_name=name
            )

        ids = {name: register_webhook(settings(name)) for name in urls}
        assert register_webhook(settings("sentiment-production")) == ids["sentiment-production"]
        webhooks = registry.make_client(settings(None)).list_webhooks(max_results=100)

    assert {webhook.name: webhook.url for webhook in webhooks} == {
        "sentiment-production": urls["sentiment-production"],
        "sentiment-canary": urls["sentiment-canary"],
        # Unset: today's name, so an API that sets nothing keeps its webhook.
        "sentiment-classifier-champion-reload": urls[None],
    }
    assert len(set(ids.values())) == 3


def test_a_webhook_name_mlflow_would_refuse_is_a_settings_error() -> None:
    """Refused at startup, naming the variable, not at registration through MLflow."""
    for bad in ("canary api", "-canary", "x" * 64):
        with pytest.raises(ValidationError, match="WEBHOOK_NAME"):
            Settings(_env_file=None, WEBHOOK_NAME=bad)  # type: ignore[call-arg]
    assert Settings(_env_file=None, WEBHOOK_NAME="").webhook_name is None  # type: ignore[call-arg]
