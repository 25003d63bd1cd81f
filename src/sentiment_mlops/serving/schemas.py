"""Request and response bodies, strict, with examples for the OpenAPI docs.

Limits that come from the settings (`MAX_TEXT_CHARS`, `MAX_BATCH_SIZE`) are read from the
validation context, so one set of classes serves every configuration; `parse_body` passes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError

_EXAMPLE_TEXT = (
    "A moving, beautifully shot film with a wonderful cast; the last act left me in tears."
)


@dataclass(frozen=True)
class Limits:
    """The input limits in force, passed to validation as its context."""

    max_text_chars: int
    max_batch_size: int


def _check_text(value: str, info: ValidationInfo) -> str:
    if not value.strip():
        raise PydanticCustomError("text_empty", "text must not be empty or whitespace only")
    limits = (info.context or {}).get("limits")
    if limits is not None and len(value) > limits.max_text_chars:
        raise PydanticCustomError(
            "text_too_long",
            "text is longer than the limit of {limit} characters (got {length})",
            {"limit": limits.max_text_chars, "length": len(value)},
        )
    return value


def _check_batch(value: list[str], info: ValidationInfo) -> list[str]:
    limits = (info.context or {}).get("limits")
    if limits is not None and len(value) > limits.max_batch_size:
        raise PydanticCustomError(
            "batch_too_large",
            "batch has {size} texts, more than the limit of {limit}",
            {"limit": limits.max_batch_size, "size": len(value)},
        )
    return value


ReviewText = Annotated[
    str,
    AfterValidator(_check_text),
    Field(
        description="A review in any language or script; not empty, at most MAX_TEXT_CHARS "
        "(default 20,000) characters.",
        examples=[_EXAMPLE_TEXT],
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class PredictRequest(_Strict):
    """One text to classify."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"text": _EXAMPLE_TEXT}]})

    text: ReviewText


class BatchPredictRequest(_Strict):
    """Several texts, classified in one vectorised call."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"texts": [_EXAMPLE_TEXT, "Dull, predictable and far too long."]}]
        }
    )

    texts: Annotated[
        list[ReviewText],
        Field(min_length=1, description="1 to MAX_BATCH_SIZE (default 256) texts."),
        AfterValidator(_check_batch),
    ]


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
                }
            ]
        }
    )

    sentiment: Literal["negative", "positive"]
    confidence: float = Field(ge=0, le=1)
    probabilities: dict[str, float]
    model_version: str


class BatchPrediction(BaseModel):
    """One prediction per input text, in the order given."""

    predictions: list[Prediction]
    model_version: str


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


class ModelInfo(BaseModel):
    """What is served, and what the watcher last saw."""

    model_loaded: bool
    name: str
    alias: str
    version: str | None
    run_id: str | None
    source: str | None
    metrics: dict[str, float]
    loaded_at: datetime | None
    last_check_at: datetime | None
    last_reload_error: ReloadError | None
    refused_versions: list[str]
    reload_interval_seconds: float


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


class ErrorBody(BaseModel):
    """A 4xx/5xx body: `detail` is a message (or FastAPI's list of validation errors)."""

    detail: Any
    message: str | None = None


Body = TypeVar("Body", bound=BaseModel)


def parse_body(schema: type[Body], raw: bytes, limits: Limits) -> Body:
    """Validate raw JSON bytes; errors become FastAPI's 422 with locations under `body`.

    Parsing here (pydantic's JSON parser, not `json.loads` then validation) makes malformed JSON
    and invalid UTF-8 the same 422 as any other bad input, and passes the configured limits.
    """
    try:
        return schema.model_validate_json(raw, context={"limits": limits})
    except ValidationError as error:
        raise RequestValidationError(
            [
                {**item, "loc": ("body", *item["loc"])}
                for item in error.errors(include_url=False, include_input=False)
            ]
        ) from None


def request_body_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The `openapi_extra` that documents a body the route reads itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema.model_json_schema()}},
        }
    }
