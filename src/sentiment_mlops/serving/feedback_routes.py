"""`POST /feedback` and `POST /feedback/batch`: true labels for logged predictions.

The rules (one label per prediction, the same label again is a no-op, a different one a 409,
a batch all or none) live in `monitoring.feedback`; this module maps them to HTTP.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool

from sentiment_mlops.monitoring import feedback
from sentiment_mlops.monitoring.prediction_log import PredictionLog
from sentiment_mlops.serving import schemas
from sentiment_mlops.serving.request_bodies import (
    FeedbackBatchRequest,
    FeedbackRequest,
    read_body,
    request_body_schema,
)
from sentiment_mlops.serving.routes import PredictionLogDep

# An error names at most this many ids.
_MAX_NAMED_IDS = 10

_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": schemas.ErrorBody, "description": "Unknown prediction id, or logging is off"},
    409: {"model": schemas.ErrorBody, "description": "The prediction has a different label"},
    422: {"model": schemas.ErrorBody, "description": "Invalid body; the message names the field"},
    503: {"model": schemas.ErrorBody, "description": "The log store cannot be reached"},
}

feedback_router = APIRouter(tags=["feedback"])


@feedback_router.post(
    "/feedback",
    response_model=schemas.Feedback,
    responses=_RESPONSES,
    openapi_extra=request_body_schema(FeedbackRequest),
)
async def post_feedback(request: Request, log: PredictionLogDep) -> schemas.Feedback:
    """Store the true label of one prediction (a second, different label is a 409)."""
    body = await read_body(request, FeedbackRequest)
    results = await _record(log, [(body.prediction_id, body.label)])
    return schemas.Feedback(**vars(results[0]))


@feedback_router.post(
    "/feedback/batch",
    response_model=schemas.FeedbackBatch,
    responses=_RESPONSES,
    openapi_extra=request_body_schema(FeedbackBatchRequest),
)
async def post_feedback_batch(request: Request, log: PredictionLogDep) -> schemas.FeedbackBatch:
    """Store several true labels, all or none: one unknown id or conflict stores nothing."""
    body = await read_body(request, FeedbackBatchRequest)
    results = await _record(log, [(item.prediction_id, item.label) for item in body.items])
    return schemas.FeedbackBatch(results=[schemas.Feedback(**vars(r)) for r in results])


async def _record(
    log: PredictionLog | None, items: list[tuple[str, str]]
) -> list[feedback.Labelled]:
    if log is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "feedback is disabled: set PREDICTION_LOG_URL"
        )
    try:
        return await run_in_threadpool(feedback.record_feedback, log, items)
    except feedback.UnknownPredictionError as error:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"prediction_id: no logged prediction has the id {_named(error.ids)} (never "
            "answered, not logged, or deleted after PREDICTION_LOG_RETENTION_DAYS)",
        ) from None
    except feedback.ConflictingLabelError as error:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"label: {error} for prediction_id {_named(error.ids)}; a label is stored once",
        ) from None
    except feedback.StoreUnavailableError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, str(error), headers={"Retry-After": "5"}
        ) from None


def _named(ids: list[str]) -> str:
    named = ", ".join(ids[:_MAX_NAMED_IDS])
    return named + (f" (and {len(ids) - _MAX_NAMED_IDS} more)" if len(ids) > _MAX_NAMED_IDS else "")
