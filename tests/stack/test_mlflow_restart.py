"""The MLflow server goes away and comes back while the API serves: predictions keep succeeding
from the loaded model, /health stays 200, and champion reloads resume once it is back."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from tests.stack.conftest import Story
from tests.stack.helpers import RunningStack, output

pytestmark = pytest.mark.stack


@dataclass
class Traffic:
    """Requests sent to the API (and MLflow probes) from a background thread, with outcomes."""

    api: RunningStack
    answers: list[tuple[str, int | str]] = field(default_factory=list)
    mlflow_down_while_served: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                mlflow_up = self._probe(client, f"{self.api.mlflow_url}/health")
                for method, path, body in (
                    ("POST", "/predict", {"text": "A dull and lifeless film."}),
                    ("GET", "/health", None),
                ):
                    try:
                        response = client.request(method, self.api.api_url + path, json=body)
                        self.answers.append((path, response.status_code))
                    except httpx.HTTPError as error:
                        self.answers.append((path, repr(error)))
                if not mlflow_up:
                    self.mlflow_down_while_served += 1
                time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()

    @staticmethod
    def _probe(client: httpx.Client, url: str) -> bool:
        try:
            return client.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


def test_api_keeps_serving_while_mlflow_restarts_and_reloads_resume(
    stack: RunningStack, story: Story
) -> None:
    stack.wait_api_version("2")
    traffic = Traffic(stack)
    thread = threading.Thread(target=traffic.run, daemon=True)
    thread.start()
    try:
        restart = stack.sentiment("stack", "restart", "mlflow", env=stack.env)
    finally:
        traffic.stop()
        thread.join(timeout=30)
    assert restart.returncode == 0, output(restart)

    assert traffic.mlflow_down_while_served >= 5, "MLflow was never seen down: no test"
    failures = [answer for answer in traffic.answers if answer[1] != 200]
    assert failures == [], failures[:10]
    served = [status for path, status in traffic.answers if path == "/predict"]
    assert len(served) >= 10

    # The registry is back: a champion change reaches the API again.
    rollback = stack.sentiment("rollback")
    assert rollback.returncode == 0, output(rollback)
    stack.wait_api_version("1", timeout=30)
