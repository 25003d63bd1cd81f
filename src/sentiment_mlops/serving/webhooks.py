"""MLflow registry webhooks: verify a delivery's signature, decide whether it means "reload",
and register the webhook with an MLflow server.

MLflow signs `"{delivery_id}.{timestamp}.{body}"` with HMAC-SHA256 and the shared secret and sends
`X-MLflow-Signature: v1,<base64 digest>` with `X-MLflow-Delivery-Id` and `X-MLflow-Timestamp`
(see `mlflow/webhooks/delivery.py`). Only `mlflow server` delivers; polling stays the fallback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sentiment_mlops.errors import UserError
from sentiment_mlops.settings import Settings

SIGNATURE_HEADER = "x-mlflow-signature"
DELIVERY_ID_HEADER = "x-mlflow-delivery-id"
TIMESTAMP_HEADER = "x-mlflow-timestamp"
ALIAS_CREATED: Final = "model_version_alias.created"
ALIAS_DELETED: Final = "model_version_alias.deleted"
# Deliveries older (or newer) than this are refused as replays.
TIMESTAMP_TOLERANCE_SECONDS = 300
# `MlflowClient.test_webhook` sends this example payload.
_TEST_MODEL_NAME = "example_model"


class WebhookError(UserError, ValueError):
    """A delivery that must be refused (401): unsigned, wrongly signed or stale."""


class WebhookConfigError(UserError):
    """The settings do not allow registering a webhook (the message says which is missing)."""


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The `X-MLflow-Signature` value MLflow would send for this delivery."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_delivery(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> str:
    """Check signature and timestamp of a delivery; returns its delivery id or raises."""
    delivery_id = headers.get(DELIVERY_ID_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not (delivery_id and timestamp and signature):
        raise WebhookError(
            "missing X-MLflow-Signature, X-MLflow-Delivery-Id or X-MLflow-Timestamp header"
        )
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookError("X-MLflow-Timestamp is not a Unix timestamp") from None
    if abs(now - sent_at) > TIMESTAMP_TOLERANCE_SECONDS:
        raise WebhookError(
            f"X-MLflow-Timestamp is more than {TIMESTAMP_TOLERANCE_SECONDS} s from now"
        )
    expected = sign(secret, delivery_id, timestamp, body).encode()
    # Standard Webhooks allows several space-separated signatures (secret rotation).
    if not any(hmac.compare_digest(part.encode(), expected) for part in signature.split()):
        raise WebhookError("signature does not match")
    return delivery_id


@dataclass(frozen=True)
class Decision:
    """Whether a verified delivery should trigger a check, and why."""

    reload: bool
    reason: str


def decide(event: Any, model_name: str, alias: str) -> Decision:
    """Reload only for `model_version_alias.created` of our model and alias."""
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        return Decision(False, "not an MLflow webhook event")
    kind = f"{event.get('entity')}.{event.get('action')}"
    data = event["data"]
    if kind != ALIAS_CREATED:
        return Decision(False, f"event {kind} is not {ALIAS_CREATED}")
    if data.get("name") == _TEST_MODEL_NAME:
        return Decision(False, "test delivery")
    if data.get("name") != model_name:
        return Decision(False, f"model {data.get('name')!r} is not {model_name!r}")
    if data.get("alias") != alias:
        return Decision(False, f"alias {data.get('alias')!r} is not {alias!r}")
    return Decision(True, f"{model_name}@{alias} now points at version {data.get('version')}")


def challenger_moved(event: Any, settings: Settings) -> bool:
    """True for a CHALLENGER_ALIAS of our model set or removed (a rollout's store checks it)."""
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        return False
    data, kind = event["data"], f"{event.get('entity')}.{event.get('action')}"
    return (
        kind in {ALIAS_CREATED, ALIAS_DELETED}
        and data.get("name") == settings.model_name
        and data.get("alias") == settings.challenger_alias
    )


class SeenDeliveries:
    """The most recent delivery ids, so that a replayed delivery is ignored. Shared by the
    webhook route and the reload fan-out's listener thread (`serving.fanout`), hence the lock."""

    def __init__(self, size: int = 1024) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def add(self, delivery_id: str) -> bool:
        """Remember an id; False when it was already seen."""
        with self._lock:
            if delivery_id in self._ids:
                return False
            self._ids[delivery_id] = None
            if len(self._ids) > self._size:
                self._ids.popitem(last=False)
            return True


def webhook_name(settings: Settings) -> str:
    """`WEBHOOK_NAME`, else one per model and alias: registration is idempotent by this name."""
    return settings.webhook_name or f"{settings.model_name}-{settings.model_alias}-reload"


def register_webhook(settings: Settings) -> str:
    """Create (or update) the MLflow webhook that calls this service on alias changes.

    Needs `WEBHOOK_URL` (where the MLflow server reaches `/webhooks/mlflow`) and `WEBHOOK_SECRET`,
    and an MLflow server with a SQL backend. Returns the webhook id. Idempotent by name.
    """
    if not settings.webhook_url:
        raise WebhookConfigError("set WEBHOOK_URL to the URL at which MLflow reaches this service")
    if settings.webhook_secret is None:
        raise WebhookConfigError("set WEBHOOK_SECRET, the secret shared with MLflow")
    from sentiment_mlops import registry

    return registry.ensure_webhook(
        registry.make_client(settings),
        name=webhook_name(settings),
        url=settings.webhook_url,
        events=[ALIAS_CREATED, ALIAS_DELETED],
        secret=settings.webhook_secret.get_secret_value(),
        description=f"Reload {settings.model_name}@{settings.model_alias} in the serving API",
    )
