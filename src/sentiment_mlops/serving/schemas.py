"""Response bodies, with examples for the OpenAPI docs (request bodies: `request_bodies`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sentiment_mlops.core.labels import LabelName
from sentiment_mlops.serving.served_model import ScoringPath

# The two classes, as predicted and as given in feedback (defined in core.labels).
SentimentLabel = LabelName


class Prediction(BaseModel):
    """The class with the higher probability, and both probabilities."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sentiment": "positive",
                    "confidence": 0.93,
                    "probabilities": {"negative": 0.07, "positive": 0.93},
                    "model_version": "3",
                    "variant": "champion",
                    "prediction_id": "0f8e2c8d5b7a4e61a3c4b9d2e7f01a55",
                }
            ]
        }
    )

    sentiment: SentimentLabel
    confidence: float = Field(ge=0, le=1)
    probabilities: dict[str, float]
    model_version: str
    variant: str = Field(
        default="champion",
        description="`champion`, or `challenger` when a canary rollout (ROLLOUT_MODE) chose it",
    )
    prediction_id: str | None = Field(
        description="The id to send feedback for; null when this prediction is not logged "
        "(PREDICTION_LOG_URL off, left out by PREDICTION_LOG_SAMPLE_RATE, or the log's queue "
        "was full)"
    )


class BatchPrediction(BaseModel):
    """One prediction per input text, in the order given."""

    predictions: list[Prediction]
    model_version: str
    variant: str = "champion"  # the batch's one variant (one key per request)


class Health(BaseModel):
    """Readiness: 200 with a model loaded, 503 without."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "healthy", "model_loaded": True, "model_version": "3"}]
        }
    )

    status: Literal["healthy", "unhealthy"]
    model_loaded: bool
    model_version: str | None


class ReloadError(BaseModel):
    """The last failed attempt to find, load or validate a champion, kept after a later success
    with `resolved: true`, when that happened and the version served since."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "stage": "load",
                    "version": "5",
                    "message": "MlflowException: ...",
                    "at": "2025-01-01T10:00:00Z",
                    "resolved": True,
                    "resolved_at": "2025-01-01T10:05:00Z",
                    "resolved_version": "6",
                }
            ]
        }
    )

    stage: Literal["lookup", "load", "validate"]
    version: str | None = Field(description="The version that failed (None: the lookup failed)")
    message: str = Field(description="The error, with credentials redacted")
    at: datetime
    resolved: bool = Field(description="A later check succeeded: the alias is served again")
    resolved_at: datetime | None = None
    resolved_version: str | None = Field(
        default=None, description="The version served when the error was resolved"
    )


class LiveAccuracy(BaseModel):
    """Accuracy of one version over its last `labelled` predictions that received feedback."""

    model_version: str
    accuracy: float = Field(ge=0, le=1)
    labelled: int = Field(description="Labelled predictions in the window (at most the window)")


class ReloadFanout(BaseModel):
    """The reload fan-out between replicas (RELOAD_NOTIFY_URL), without its URL."""

    enabled: bool = Field(description="RELOAD_NOTIFY_URL is set")
    listening: bool = Field(description="Listening now for the other replicas' notices")
    connected_at: datetime | None = Field(description="When the listener last (re)connected")
    connects: int = Field(description="Listener connections made: the first, then reconnects")
    notices: dict[str, int] = Field(
        description="Notices received: applied (a check), duplicate (delivery already seen), "
        "ignored (another model, or an alias not followed here)"
    )
    published: dict[str, int] = Field(description="Notices this replica sent: sent, failed")
    last_error: str | None = Field(description="Why the listener last lost its connection")


class ServedChallenger(BaseModel):
    """The challenger version a rollout serves beside the champion."""

    alias: str
    version: str
    scoring_path: ScoringPath


_SCORING_PATH = (
    "How the served version scores: compact (its compact scorer file: numpy only), lean (the "
    "unpickled pipeline, scored without scikit-learn's per-call overhead), sklearn (the "
    "pipeline's own predict_proba)"
)


class ModelInfo(BaseModel):
    """What is served, and what the watcher last saw."""

    model_loaded: bool
    name: str
    alias: str
    version: str | None
    scoring_path: ScoringPath | None = Field(description=_SCORING_PATH)
    challenger: ServedChallenger | None = Field(
        description="The challenger served by a rollout (ROLLOUT_MODE), while one is"
    )
    run_id: str | None
    source: str | None
    metrics: dict[str, float]
    loaded_at: datetime | None
    last_check_at: datetime | None
    last_reload_error: ReloadError | None
    refused_versions: list[str]
    reload_interval_seconds: float
    live_accuracy: list[LiveAccuracy] | None = Field(
        description="Per version of this model, from feedback; null when the prediction log is "
        "off or its store cannot be reached"
    )
    live_accuracy_window: int = Field(description="FEEDBACK_WINDOW")
    reload_fanout: ReloadFanout


class Feedback(BaseModel):
    """A stored true label and what the model had predicted."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "prediction_id": "0f8e2c8d5b7a4e61a3c4b9d2e7f01a55",
                    "label": "negative",
                    "predicted_label": "positive",
                    "correct": False,
                    "model_version": "3",
                    "already_recorded": False,
                }
            ]
        }
    )

    prediction_id: str
    label: SentimentLabel
    predicted_label: SentimentLabel
    correct: bool
    model_version: str
    already_recorded: bool = Field(description="The same label had been stored before")


class FeedbackBatch(BaseModel):
    """One result per item, in the order given."""

    results: list[Feedback]


class ReloadResult(BaseModel):
    """What a forced check found."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"changed": True, "outcome": "loaded", "version": "4", "previous_version": "3"}
            ]
        }
    )

    changed: bool
    outcome: Literal["loaded", "unchanged", "no_champion", "refused", "lookup_failed"]
    version: str | None
    previous_version: str | None
    error: str | None = None


class WebhookAck(BaseModel):
    """Whether a verified delivery triggered a reload check, and why not if it did not."""

    accepted: bool
    reason: str
    fanned_out: bool = Field(
        default=False, description="The other replicas were notified (RELOAD_NOTIFY_URL)"
    )


class ErrorBody(BaseModel):
    """A 4xx/5xx body: `detail` is a message, or for a 422 the first validation errors."""

    detail: Any
    message: str | None = None
    error_count: int | None = None
