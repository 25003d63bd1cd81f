"""The HTTP endpoints. Handlers stay thin: parse, read the store's snapshot once, answer.

Short inputs (about 1 ms to predict) run on the event loop, micro-batched with the other requests
of the same loop turn: a threadpool hop would cost as much as the prediction. Larger inputs go to
worker threads, two at a time (`batching.big_predictions`), so that a big batch cannot stall
`/health` or other requests.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sentiment_mlops.core.labels import LABEL_NAMES, NEGATIVE, POSITIVE
from sentiment_mlops.monitoring.feedback import StoreUnavailableError, live_accuracy
from sentiment_mlops.monitoring.prediction_log import Answered, PredictionLog
from sentiment_mlops.serving import schemas, webhooks
from sentiment_mlops.serving.fanout import ReloadFanout, ReloadNotice
from sentiment_mlops.serving.metrics import ServingMetrics
from sentiment_mlops.serving.model_store import ModelStore
from sentiment_mlops.serving.request_bodies import (
    Limits,
    read_body,
    request_body_schema,
    request_models,
)
from sentiment_mlops.serving.rollout import Rollout
from sentiment_mlops.serving.served_model import ServedModel
from sentiment_mlops.settings import Settings

# Inputs up to this many characters in total are predicted on the event loop.
INLINE_PREDICT_CHARS = 5_000


# The dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in the
# threadpool, a hop per dependency per request.
async def get_store(request: Request) -> ModelStore:
    return request.app.state.store


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_metrics(request: Request) -> ServingMetrics:
    return request.app.state.metrics


async def get_prediction_log(request: Request) -> PredictionLog | None:
    return request.app.state.prediction_log


StoreDep = Annotated[ModelStore, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[ServingMetrics, Depends(get_metrics)]
PredictionLogDep = Annotated[PredictionLog | None, Depends(get_prediction_log)]

_bearer = HTTPBearer(auto_error=False, description="ADMIN_TOKEN")


async def require_admin(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """403 while no ADMIN_TOKEN is configured; 401 for a missing or wrong bearer token."""
    if settings.admin_token is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "admin endpoints are disabled: set ADMIN_TOKEN"
        )
    expected = settings.admin_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials else b""
    if not hmac.compare_digest(given, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


router = APIRouter()
_NO_MODEL: dict[int | str, dict[str, Any]] = {
    503: {"model": schemas.ErrorBody, "description": "No model is loaded yet"}
}
_BAD_INPUT: dict[int | str, dict[str, Any]] = {
    413: {"model": schemas.ErrorBody, "description": "Body over MAX_BODY_BYTES"},
    422: {"model": schemas.ErrorBody, "description": "Invalid body; the message names the field"},
}


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code, media_type="application/json")


def _served(store: ModelStore) -> ServedModel:
    served = store.current
    if served is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no model is loaded yet",
            headers={"Retry-After": "5"},
        )
    return served


async def _predict(request: Request, served: ServedModel, texts: list[str]) -> list[dict[str, Any]]:
    if sum(map(len, texts)) <= INLINE_PREDICT_CHARS:
        return await request.app.state.batcher.predict(served, texts)
    limiter = request.app.state.big_predictions
    return await anyio.to_thread.run_sync(served.predict, texts, limiter=limiter)


async def _answer(
    request: Request, texts: list[str], kind: str, started: float
) -> list[dict[str, Any]]:
    """Predict with the served snapshot, log each answer and count it: what both routes do.

    The rollout (`serving.rollout`) picks the variant that answers and sees every answer."""
    state = request.app.state
    rollout: Rollout = state.rollout
    served, variant = rollout.choose(_served(state.store), request.scope["headers"], texts)
    results = await _predict(request, served, texts)
    now = time.time()
    _log_answers(state.prediction_log, served, texts, results, kind, started, now, variant)
    state.metrics.count_predictions(results)
    rollout.observe(variant, texts, results, started, now)
    return results


def _log_answers(
    log: PredictionLog | None,
    served: ServedModel,
    texts: list[str],
    results: list[dict[str, Any]],
    kind: str,
    started: float,
    now: float,
    variant: str,
) -> None:
    """Give each result its `prediction_id` and variant and hand it to the log (never waits:
    see `PredictionLog.submit`); the id is null for a result that is not logged."""
    latency_ms = (time.perf_counter() - started) * 1000  # arrival to prediction, no logging
    name, version = served.ref.name, served.version
    for text, result in zip(texts, results, strict=True):
        result["variant"] = variant
        prediction_id = log.new_id() if log is not None else None
        if log is not None and prediction_id is not None:
            probabilities = result["probabilities"]
            record = Answered(
                prediction_id, now, name, version, text, probabilities[LABEL_NAMES[NEGATIVE]],
                probabilities[LABEL_NAMES[POSITIVE]], result["sentiment"], latency_ms, kind,
                variant,
            )  # fmt: skip
            if not log.submit(record):
                prediction_id = None
        result["prediction_id"] = prediction_id


class RequestRoute(APIRoute):
    """A route whose endpoint takes the `Request` alone and returns a `Response`: FastAPI calls it
    as it is, without solving dependencies or validating parameters per request.

    FastAPI's per-request handler (dependency solving, parameter checks) costs about a fifth of a
    `/predict` call, for routes that read and validate their body themselves
    (`request_bodies.read_body`) and build their JSON answer. The route is documented from its
    declaration as any other (`openapi_extra`, `responses`), and the framework's routing, error
    handlers (422, 4xx from `HTTPException`) and middleware apply unchanged.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


def predict_router(limits: Limits) -> APIRouter:
    """`/predict` and `/predict/batch` for one app, their bodies documented with its limits.

    The hot path: the app's parts come from `app.state`, not dependencies (`RequestRoute`)."""
    models = request_models(limits)
    predict_routes = APIRouter(tags=["predict"], route_class=RequestRoute)

    @predict_routes.post(
        "/predict",
        response_model=schemas.Prediction,
        responses={**_BAD_INPUT, **_NO_MODEL},
        openapi_extra=request_body_schema(models.predict),
    )
    async def predict(request: Request) -> Response:
        """Classify one text."""
        started = time.perf_counter()
        payload = await read_body(request, models.predict)
        texts = [payload.text]  # type: ignore[attr-defined]
        results = await _answer(request, texts, "single", started)
        return _json(results[0])

    @predict_routes.post(
        "/predict/batch",
        response_model=schemas.BatchPrediction,
        responses={**_BAD_INPUT, **_NO_MODEL},
        openapi_extra=request_body_schema(models.batch),
    )
    async def predict_batch(request: Request) -> Response:
        """Classify several texts in one vectorised call; results keep the input order."""
        started = time.perf_counter()
        payload = await read_body(request, models.batch)
        texts = list(payload.texts)  # type: ignore[attr-defined]
        results = await _answer(request, texts, "batch", started)
        first = results[0]
        body = {"predictions": results, "model_version": first["model_version"]}
        return _json(body | {"variant": first["variant"]})

    return predict_routes


@router.get(
    "/health",
    response_model=schemas.Health,
    responses={503: {"model": schemas.Health, "description": "No model loaded"}},
    tags=["health"],
)
async def health(store: StoreDep) -> Response:
    """Readiness: 200 while a model is served, 503 before."""
    served = store.current
    body = {
        "status": "healthy" if served else "unhealthy",
        "model_loaded": served is not None,
        "model_version": served.version if served else None,
    }
    return _json(body, 200 if served else 503)


@router.get("/health/live", tags=["health"])
async def live() -> Response:
    """Liveness: 200 while the process answers."""
    return _json({"status": "alive"})


@router.get("/model-info", response_model=schemas.ModelInfo, tags=["model"])
async def model_info(
    request: Request, store: StoreDep, settings: SettingsDep, log: PredictionLogDep
) -> schemas.ModelInfo:
    """The served version, its run and metrics, the last reload error, and live accuracy."""
    # First, so that the store's state below is read in one go, with no await in between.
    accuracy = await run_in_threadpool(_live_accuracy, log, settings)
    served, failure = store.current, store.stats.last_failure
    return schemas.ModelInfo(
        model_loaded=served is not None,
        name=settings.model_name,
        alias=settings.model_alias,
        version=served.version if served else None,
        scoring_path=served.scoring_path if served else None,
        challenger=_challenger_state(request.app.state.rollout),
        run_id=served.ref.run_id if served else None,
        source=(
            store.redact(served.ref.source) if served and served.ref.source is not None else None
        ),
        metrics=served.metrics if served else {},
        loaded_at=served.loaded_at if served else None,
        last_check_at=store.stats.last_check_at,
        last_reload_error=(
            schemas.ReloadError(**vars(failure), resolved=failure.resolved_at is not None)
            if failure
            else None
        ),
        refused_versions=store.refused_versions,
        reload_interval_seconds=settings.model_reload_interval,
        live_accuracy=accuracy,
        live_accuracy_window=settings.feedback_window,
        reload_fanout=_fanout_state(request.app.state.fanout),
    )


def _challenger_state(rollout: Rollout) -> schemas.ServedChallenger | None:
    served = rollout.store.current if rollout.active else None
    if served is None:
        return None
    return schemas.ServedChallenger(
        alias=rollout.store.alias, version=served.version, scoring_path=served.scoring_path
    )


def _fanout_state(fanout: ReloadFanout) -> schemas.ReloadFanout:
    return schemas.ReloadFanout(
        enabled=fanout.enabled,
        listening=fanout.listening,
        connected_at=fanout.connected_at,
        connects=fanout.connects,
        notices=dict(fanout.notices),
        published=dict(fanout.published),
        last_error=fanout.last_error,
    )


def _live_accuracy(
    log: PredictionLog | None, settings: Settings
) -> list[schemas.LiveAccuracy] | None:
    """This model's live accuracy per version; None when there is no log or it is unreachable."""
    if log is None:
        return None
    try:
        found = live_accuracy(log.engine, settings.feedback_window, settings.model_name)
    except StoreUnavailableError:
        return None
    return [
        schemas.LiveAccuracy(
            model_version=a.model_version, accuracy=a.accuracy, labelled=a.labelled
        )
        for a in found
    ]


@router.post(
    "/admin/reload",
    response_model=schemas.ReloadResult,
    dependencies=[Depends(require_admin)],
    responses={
        401: {"model": schemas.ErrorBody, "description": "Missing or wrong bearer token"},
        403: {"model": schemas.ErrorBody, "description": "ADMIN_TOKEN is not configured"},
        502: {"model": schemas.ReloadResult, "description": "Lookup failed or model refused"},
    },
    tags=["admin"],
)
async def reload_model(store: StoreDep) -> Response:
    """Check the alias now (retrying a refused version) and report whether the model changed."""
    result = await run_in_threadpool(store.check, True)
    body = {
        "changed": result.changed,
        "outcome": result.outcome,
        "version": result.version,
        "previous_version": result.previous_version,
        "error": result.error,
    }
    failed = result.outcome in {"refused", "lookup_failed"}
    return _json(body, status.HTTP_502_BAD_GATEWAY if failed else 200)


@router.post(
    "/webhooks/mlflow",
    response_model=schemas.WebhookAck,
    responses={
        401: {"model": schemas.ErrorBody, "description": "Bad or stale signature"},
        404: {"model": schemas.ErrorBody, "description": "WEBHOOK_SECRET is not configured"},
    },
    tags=["admin"],
)
async def mlflow_webhook(request: Request, settings: SettingsDep) -> Response:
    """Receive an MLflow registry webhook; a new champion alias triggers a check at once."""
    if settings.webhook_secret is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "webhooks are disabled: set WEBHOOK_SECRET")
    body = await request.body()
    secret = settings.webhook_secret.get_secret_value()
    try:
        delivery_id = webhooks.verify_delivery(secret, request.headers, body, time.time())
    except webhooks.WebhookError as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error)) from None
    if not request.app.state.deliveries.add(delivery_id):
        return _json({"accepted": False, "reason": "duplicate delivery"})
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body is not JSON") from None
    decision = webhooks.decide(event, settings.model_name, settings.model_alias)
    alias = settings.model_alias if decision.reload else None
    rollout: Rollout = request.app.state.rollout
    if alias is None and rollout.active and webhooks.challenger_moved(event, settings):
        alias = settings.challenger_alias
        decision = webhooks.Decision(True, f"{settings.challenger_alias} alias changed")
    fanned_out = False
    if alias is not None:  # check here at once, and on every other replica (`serving.fanout`)
        notice = ReloadNotice(settings.model_name, alias, _event_version(event), delivery_id)
        fanned_out = await request.app.state.fanout.deliver(notice)
    return _json({"accepted": decision.reload, "reason": decision.reason, "fanned_out": fanned_out})


def _event_version(event: dict[str, Any]) -> str | None:
    version = event["data"].get("version")  # `decide` has checked that `data` is a dict
    return None if version is None else str(version)


@router.get("/metrics", tags=["metrics"], response_class=Response)
async def metrics_endpoint(metrics: MetricsDep) -> Response:
    """Prometheus metrics."""
    content, content_type = await run_in_threadpool(metrics.render)
    return Response(content, media_type=content_type)
