"""The app factory: settings, model store and metrics on `app.state`, the watcher in the lifespan.

`create_app` returns at once and the port opens before any model is loaded: the lifespan
configures the process from the settings (MLflow's bounded HTTP retries; in every uvicorn
worker, as each builds its own app), then the store's watcher thread imports MLflow, finds the
champion and loads it in the background, retrying with backoff while MLflow is unreachable.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline

import sentiment_mlops
from sentiment_mlops.monitoring.prediction_log import open_prediction_log
from sentiment_mlops.process import configure_process
from sentiment_mlops.redaction import install_log_redaction
from sentiment_mlops.serving.batching import MicroBatcher, big_predictions
from sentiment_mlops.serving.fanout import FanoutCollector, ReloadFanout
from sentiment_mlops.serving.feedback_routes import feedback_router
from sentiment_mlops.serving.metrics import RequestMetricsMiddleware, ServingMetrics
from sentiment_mlops.serving.middleware import BodySizeLimitMiddleware, DirectRoutes
from sentiment_mlops.serving.model_store import ModelStore
from sentiment_mlops.serving.request_bodies import Limits, big_body_parses, validation_error_body
from sentiment_mlops.serving.rollout import Rollout
from sentiment_mlops.serving.routes import predict_router, router
from sentiment_mlops.serving.webhooks import SeenDeliveries
from sentiment_mlops.settings import Settings, get_settings

logger = logging.getLogger(__name__)

# How long a thread may keep the GIL while another waits for it, as long as the API runs
# (CPython's default: 5 ms). The event loop answers every request in one thread: whenever another
# thread holds the GIL (the prediction log's writer turning a batch into rows, a big batch scored
# in a worker thread), the loop waits up to this long to get it back, and every request with it.
# With the log on, /predict's p99 at c=8 was twice the log-off one at 5 ms and back near it at
# 1 ms (bench/tail_latency.py --log, bench/README.md).
GIL_SWITCH_INTERVAL = 0.001

DESCRIPTION = """Classifies movie reviews as positive or negative with the registry's champion.

A new champion is picked up without a restart: by polling the alias every
`MODEL_RELOAD_INTERVAL` seconds, at once on an MLflow webhook (on every replica when
`RELOAD_NOTIFY_URL` is set), or on `POST /admin/reload`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API; the model loads in the background once the app starts."""
    settings = settings or get_settings()
    _configure_logging(settings)
    store = ModelStore(settings)
    # Every log line of the process from here on, MLflow's and uvicorn's included.
    install_log_redaction(store.redact)
    prediction_log = open_prediction_log(settings)
    metrics = ServingMetrics(store, prediction_log)
    rollout = Rollout(settings, metrics.registry, prediction_log)  # ROLLOUT_MODE
    deliveries = SeenDeliveries()
    checks = {settings.model_alias: store.request_check}
    if rollout.active:
        checks[settings.challenger_alias] = rollout.request_check
    fanout = ReloadFanout(settings, checks, deliveries, store.redact)  # RELOAD_NOTIFY_URL
    metrics.registry.register(FanoutCollector(fanout))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        configure_process(settings)  # the API's entry: before the watcher's first MLflow call
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)  # before any of the app's threads starts
        store.start()
        rollout.start()
        fanout.start()
        if prediction_log is not None:
            prediction_log.start()
        yield
        await run_in_threadpool(fanout.stop)
        await run_in_threadpool(store.stop)
        await run_in_threadpool(rollout.stop)
        if prediction_log is not None:
            await run_in_threadpool(prediction_log.stop)
        sys.setswitchinterval(switch_interval)

    # /docs and /redoc with their scripts and styles served from the package, not a CDN, so
    # that they work on hosts without internet access.
    app = FastAPIOffline(
        title="Sentiment API",
        version=sentiment_mlops.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry is off: the app's telemetry is its Prometheus metrics,
        # and checking for an OpenTelemetry provider costs every request about 1% of a /predict.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = metrics
    app.state.deliveries = deliveries
    app.state.fanout = fanout
    app.state.batcher = MicroBatcher()
    app.state.big_predictions = big_predictions()
    app.state.big_body_parses = big_body_parses()
    app.state.prediction_log = prediction_log
    app.state.rollout = rollout
    predict_routes = predict_router(Limits(settings.max_text_chars, settings.max_batch_size))
    app.include_router(predict_routes)
    app.include_router(router)
    app.include_router(feedback_router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Added last = outermost: the metrics see the 413s of the body limit too.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    # Outermost of all: the predict routes through the same middleware, without the routing.
    app.add_middleware(DirectRoutes, routes=predict_routes.routes, inner=list(app.user_middleware))
    if settings.admin_token is not None and "change-me" in settings.admin_token.get_secret_value():
        logger.warning("ADMIN_TOKEN is the example placeholder; set a real secret")
    return app


async def _validation_error(_request: Request, error: Exception) -> Response:
    """422 with the first validation errors and one message that names each bad field."""
    assert isinstance(error, RequestValidationError)
    body = orjson.dumps(validation_error_body(error))
    return Response(body, status_code=422, media_type="application/json")


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("sentiment_mlops").setLevel(settings.log_level.upper())
