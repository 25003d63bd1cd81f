"""The per-request work of the predict routes, counted (not timed) on the real app in-process.

A profiler hook counts calls of the framework and metrics functions a request must not need:
FastAPI's dependency solving (the routes read their body and the app's parts themselves),
prometheus-client's `.labels()` lookups (the children are kept), the routing and the
`AsyncExitStack` layer (`middleware.DirectRoutes` dispatches the predict routes), and FastAPI's
check for an OpenTelemetry provider (its native telemetry is off). The answers, the metrics and
the 4xx answers must stay what they were; large batches run two at a time in worker threads.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.utils import solve_dependencies
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.telemetry._api import _unconfigured
from fastapi.testclient import TestClient
from prometheus_client.metrics import MetricWrapperBase
from starlette.routing import Router

from sentiment_mlops.serving.app import create_app
from sentiment_mlops.serving.batching import BIG_PREDICTIONS
from sentiment_mlops.serving.served_model import ServedModel
from tests.serving.helpers import MlflowStore, wait_until

TEXT = "A wonderful, moving film. The cast is brilliant and I loved every minute of it."
WATCHED: dict[str, Callable[..., Any]] = {
    "solve_dependencies": solve_dependencies,
    "labels": MetricWrapperBase.labels,
    "routing": Router.__call__,
    "exit_stack_middleware": AsyncExitStackMiddleware.__call__,
    "opentelemetry_provider_check": _unconfigured,
}


@pytest.fixture(scope="module")
def app(mlflow_store: MlflowStore) -> Iterator[FastAPI]:
    """The app serving the champion, without a prediction log; its model loaded."""
    app = create_app(mlflow_store.settings(prediction_log_url="off", model_reload_interval=3600))
    with TestClient(app) as client:
        wait_until(lambda: client.get("/health").status_code == 200, timeout=60)
        yield app


def _post_counting(app: FastAPI, path: str, body: dict[str, Any]) -> tuple[httpx.Response, Counter]:
    """POST twice in this thread (the first warms up), counting WATCHED calls in the second."""
    codes = {function.__code__: name for name, function in WATCHED.items()}
    calls: Counter[str] = Counter()

    def hook(frame: FrameType, event: str, _arg: object) -> None:
        if event == "call" and frame.f_code in codes:
            calls[codes[frame.f_code]] += 1

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            await http.post(path, json=body)
            sys.setprofile(hook)
            try:
                return await http.post(path, json=body)
            finally:
                sys.setprofile(None)

    return asyncio.run(post()), calls


@pytest.mark.parametrize(
    ("path", "body"), [("/predict", {"text": TEXT}), ("/predict/batch", {"texts": [TEXT, TEXT]})]
)
def test_a_prediction_solves_no_dependencies_looks_up_no_labels_and_skips_routing(
    app: FastAPI, path: str, body: dict[str, Any]
) -> None:
    response, calls = _post_counting(app, path, body)
    assert response.status_code == 200, response.text
    assert calls == Counter(), calls
    answer = response.json()
    first = answer["predictions"][0] if path.endswith("batch") else answer
    assert first["sentiment"] == "positive" and first["model_version"] == "1"
    assert first["variant"] == "champion" and first["prediction_id"] is None


def test_requests_are_still_counted_by_route_and_status(app: FastAPI) -> None:
    with TestClient(app) as client:
        before = _sample(client, "/predict", "200")
        client.post("/predict", json={"text": TEXT})
        client.post("/predict", json={"text": TEXT})
        client.post("/predict", json={"text": " "})
        assert _sample(client, "/predict", "200") == before + 2
        assert _sample(client, "/predict", "422") >= 1
        text = client.get("/metrics").text
    latency = 'sentiment_http_request_duration_seconds_count{endpoint="/predict",method="POST"}'
    assert latency in text
    assert 'sentiment_predictions_total{sentiment="positive"}' in text


def _sample(client: TestClient, endpoint: str, status: str) -> float:
    name = f'sentiment_http_requests_total{{endpoint="{endpoint}",method="POST",status="{status}"}}'
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_other_routes_are_still_routed(app: FastAPI) -> None:
    """The direct dispatch is for the predict routes' POSTs alone: the rest goes through routing."""
    response, calls = _post_counting(app, "/feedback", {"prediction_id": "0" * 32, "label": "x"})
    assert response.status_code == 422, response.text
    assert calls["routing"] >= 1, calls
    with TestClient(app) as client:
        assert client.get("/predict").status_code == 405
        assert client.post("/predict/", json={"text": TEXT}).status_code in {200, 307}


def test_bad_predict_requests_keep_their_answers_and_are_counted(app: FastAPI) -> None:
    with TestClient(app) as client:
        # A 413 is refused before routing, as it always was: its endpoint is `unmatched`.
        counted = {"413": "unmatched", "422": "/predict/batch"}
        before = {code: _sample(client, where, code) for code, where in counted.items()}
        big = client.post(
            "/predict/batch",
            content=b"x" * 10_000_000,
            headers={"content-type": "application/json"},
        )
        assert big.status_code == 413
        assert big.json()["detail"].startswith("request body is larger than the limit")
        blank = client.post("/predict/batch", json={"texts": [TEXT, " "]})
        assert blank.status_code == 422
        assert blank.json()["detail"][0]["type"] == "text_empty"
        assert blank.json()["message"].startswith("body.texts.1: text must not be empty")
        after = {code: _sample(client, where, code) for code, where in counted.items()}
    assert after == {code: count + 1 for code, count in before.items()}, (before, after)


def test_large_predictions_run_two_at_a_time(mlflow_store: MlflowStore) -> None:
    """Batches too large for the event loop queue for two worker threads: scoring holds the GIL,
    so more predictions in parallel threads only add the switching between them."""
    app = create_app(mlflow_store.settings(prediction_log_url="off", model_reload_interval=3600))
    code = ServedModel.predict.__code__
    lock = threading.Lock()
    running, most = 0, 0

    def hook(frame: FrameType, event: str, _arg: object) -> None:
        nonlocal running, most
        if frame.f_code is code and event in {"call", "return"}:
            with lock:
                running += 1 if event == "call" else -1
                most = max(most, running)

    async def post_concurrently() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        body = {"texts": [f"{TEXT} {i} " * 12 for i in range(16)]}  # ~15,000 characters
        client = httpx.AsyncClient(transport=transport, base_url="http://api")
        async with app.router.lifespan_context(app), client as http:
            for _ in range(600):  # the model loads in the background
                if (await http.get("/health")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            posts = (http.post("/predict/batch", json=body) for _ in range(8))
            return await asyncio.gather(*posts)

    # Worker threads started from here on (this loop's pool) carry the hook; switch often.
    interval = sys.getswitchinterval()
    threading.setprofile(hook)
    sys.setswitchinterval(1e-5)
    try:
        responses = asyncio.run(post_concurrently())
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
        sys.setswitchinterval(interval)
    assert [r.status_code for r in responses] == [200] * 8
    assert 0 < most <= BIG_PREDICTIONS, most
