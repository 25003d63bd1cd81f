"""The per-request work of the predict routes, counted (not timed) on the real app in-process.

A profiler hook counts calls of the framework and metrics functions a request must not need:
FastAPI's dependency solving (the routes read their body and the app's parts themselves) and
prometheus-client's `.labels()` lookups (the children are kept). The answers and the metrics
must stay what they were.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.utils import solve_dependencies
from fastapi.testclient import TestClient
from prometheus_client.metrics import MetricWrapperBase

from sentiment_mlops.serving.app import create_app
from tests.serving.helpers import MlflowStore, wait_until

TEXT = "A wonderful, moving film. The cast is brilliant and I loved every minute of it."
WATCHED: dict[str, Callable[..., Any]] = {
    "solve_dependencies": solve_dependencies,
    "labels": MetricWrapperBase.labels,
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
def test_a_prediction_solves_no_dependencies_and_looks_up_no_metric_labels(
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
