"""Request bodies and their validation: limits, parsing, and the 422 answer.

The request bodies depend on the limits in force (`MAX_TEXT_CHARS`, `MAX_BATCH_SIZE`), so they
are built per app by `request_models`: pydantic enforces the limits as plain field constraints,
and the OpenAPI schema states the same values (`minLength`, `maxLength`, `pattern`, `maxItems`).
A list's `maxItems` is checked before its items are validated, so an over-long batch costs one
error, not one per item, and a 422 reports at most MAX_REPORTED_ERRORS errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sentiment_mlops.serving.schemas import SentimentLabel

_EXAMPLE_TEXT = (
    "A moving, beautifully shot film with a wonderful cast; the last act left me in tears."
)
# A text must hold a character other than whitespace; the same pattern in the schema and the check.
NOT_BLANK = r"\S"
# A 422 lists at most this many errors, and says how many there were in all.
MAX_REPORTED_ERRORS = 10

_BLANK = "text must not be empty or whitespace only"
# Our wording for pydantic's constraint errors: (type, message template over the error's ctx).
_MESSAGES = {
    "string_too_short": ("text_empty", _BLANK),
    "string_pattern_mismatch": ("text_empty", _BLANK),
    "string_too_long": ("text_too_long", "text is longer than the limit of {max_length} chars"),
    "too_long": ("batch_too_large", "batch has more texts than the limit of {max_length}"),
}


@dataclass(frozen=True)
class Limits:
    """The input limits in force, from the settings."""

    max_text_chars: int
    max_batch_size: int


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


@dataclass(frozen=True)
class RequestModels:
    """The request bodies of one app, with its limits as field constraints."""

    predict: type[BaseModel]
    batch: type[BaseModel]


def request_models(limits: Limits) -> RequestModels:
    """`PredictRequest` and `BatchPredictRequest` for `limits`."""
    review_text = Annotated[
        str,
        Field(
            min_length=1,
            max_length=limits.max_text_chars,
            pattern=NOT_BLANK,
            description="A review in any language or script; not empty or whitespace only, "
            f"at most {limits.max_text_chars} characters (MAX_TEXT_CHARS).",
            examples=[_EXAMPLE_TEXT],
        ),
    ]

    class PredictRequest(_Strict):
        """One text to classify."""

        model_config = ConfigDict(json_schema_extra={"examples": [{"text": _EXAMPLE_TEXT}]})

        text: review_text

    class BatchPredictRequest(_Strict):
        """Several texts, classified in one vectorised call."""

        model_config = ConfigDict(
            json_schema_extra={
                "examples": [{"texts": [_EXAMPLE_TEXT, "Dull, predictable and far too long."]}]
            }
        )

        texts: Annotated[
            list[review_text],
            Field(
                min_length=1,
                max_length=limits.max_batch_size,
                description=f"1 to {limits.max_batch_size} texts (MAX_BATCH_SIZE).",
            ),
        ]

    return RequestModels(PredictRequest, BatchPredictRequest)


# A prediction id as the API hands it out: 128 random bits in 32 lower-case hex digits.
PREDICTION_ID = r"^[0-9a-f]{32}$"
MAX_FEEDBACK_ITEMS = 1000


class FeedbackRequest(_Strict):
    """The true label of a prediction answered earlier."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"prediction_id": "0f8e2c8d5b7a4e61a3c4b9d2e7f01a55", "label": "negative"}]
        }
    )

    prediction_id: str = Field(
        pattern=PREDICTION_ID,
        max_length=32,
        description="The `prediction_id` of a /predict or /predict/batch answer.",
    )
    label: SentimentLabel = Field(description="The true class.")


class FeedbackBatchRequest(_Strict):
    """Several true labels, stored all or none."""

    items: list[FeedbackRequest] = Field(
        min_length=1,
        max_length=MAX_FEEDBACK_ITEMS,
        description=f"1 to {MAX_FEEDBACK_ITEMS} labels.",
    )


Body = TypeVar("Body", bound=BaseModel)


class BodyValidationError(RequestValidationError):
    """FastAPI's 422 for a body we parse ourselves: its first errors, plain, and their count."""

    def __init__(self, errors: list[dict[str, Any]], total: int) -> None:
        super().__init__(errors)
        self.total = total


def parse_body(schema: type[Body], raw: bytes) -> Body:
    """Validate raw JSON bytes; errors become a 422 with locations under `body`.

    Parsing here (pydantic's JSON parser, not `json.loads` then validation) makes malformed JSON
    and invalid UTF-8 the same 422 as any other bad input. The errors are converted once, and
    only the first MAX_REPORTED_ERRORS are kept.
    """
    try:
        return schema.model_validate_json(raw)
    except ValidationError as error:
        items = error.errors(include_url=False, include_input=False)
        kept = [_plain(item, ("body",)) for item in items[:MAX_REPORTED_ERRORS]]
        raise BodyValidationError(kept, len(items)) from None


# Bodies up to this size are parsed on the event loop (tens of microseconds); larger ones in a
# thread, at most BIG_BODY_PARSES at a time per app (a 6 MB body of tiny items parses into
# ~300 MB), so that a flood of them can neither stall the loop nor exhaust memory.
INLINE_PARSE_BYTES = 64 * 1024
BIG_BODY_PARSES = 2


def big_body_parses() -> anyio.CapacityLimiter:
    """The per-app limiter `read_body` shares between every route that parses a body."""
    return anyio.CapacityLimiter(BIG_BODY_PARSES)


async def read_body(request: Request, schema: type[Body]) -> Body:
    """Read and validate a request's JSON body, large ones off the loop and a few at a time."""
    raw = await request.body()
    if len(raw) <= INLINE_PARSE_BYTES:
        return parse_body(schema, raw)
    limiter = request.app.state.big_body_parses
    return await anyio.to_thread.run_sync(parse_body, schema, raw, limiter=limiter)


def validation_error_body(error: RequestValidationError) -> dict[str, Any]:
    """The 422 body: the first errors, and one message naming each of their fields."""
    if isinstance(error, BodyValidationError):
        details, total = list(error.errors()), error.total
    else:
        items = error.errors()
        details, total = [_plain(item) for item in items[:MAX_REPORTED_ERRORS]], len(items)
    message = "; ".join(
        f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in details
    )
    if total > len(details):
        message += f" (and {total - len(details)} more errors)"
    return {"detail": details, "message": message, "error_count": total}


def _plain(item: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    """An error in our words, without the echoed input (it can be 20,000 characters), JSON-safe."""
    plain = {"type": item["type"], "loc": [*prefix, *item["loc"]], "msg": item["msg"]}
    ctx = item.get("ctx") or {}
    if ctx:
        plain["ctx"] = {key: str(value) for key, value in ctx.items()}
    if item["type"] in _MESSAGES:
        plain["type"], template = _MESSAGES[item["type"]]
        plain["msg"] = template.format_map(ctx)
    return plain


def request_body_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The `openapi_extra` that documents a body the route reads itself.

    Nested models are inlined: pydantic refers to them as `#/$defs/...`, which would point
    into the OpenAPI document's root, where they are not."""
    json_schema = schema.model_json_schema()
    definitions = json_schema.pop("$defs", {})
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(json_schema, definitions)}},
        }
    }


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node
