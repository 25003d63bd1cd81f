"""Hot reload in a real uvicorn process: a new champion is served within the interval while a
client keeps sending requests, and a champion with a broken artifact is refused."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from sentiment_mlops import registry
from tests.serving.helpers import ADMIN_TOKEN, MlflowStore, run_service, wait_until

RELOAD_MODEL = "reload-model"  # its own registered model: other tests keep their champion


class RequestLoop(threading.Thread):
    """Sends /predict requests back to back and records every status and served version."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.statuses: list[int] = []
        self.versions: list[str] = []
        self.first_seen: dict[str, float] = {}
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._halt.is_set():
                try:
                    response = client.post("/predict", json={"text": "A great film, loved it."})
                except httpx.HTTPError as error:
                    self.errors.append(repr(error))
                    continue
                self.statuses.append(response.status_code)
                if response.status_code == 200:
                    version = response.json()["model_version"]
                    self.versions.append(version)
                    self.first_seen.setdefault(version, time.monotonic())

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def _failures(metrics: str, stage: str) -> float:
    match = re.search(rf'sentiment_model_reload_failures_total{{stage="{stage}"}} (\S+)', metrics)
    assert match, metrics
    return float(match.group(1))


@pytest.mark.slow
def test_new_champion_served_without_failures_and_broken_one_refused(
    mlflow_store: MlflowStore, tmp_path: Path
) -> None:
    client = mlflow_store.client()
    registry.promote(client, RELOAD_MODEL, mlflow_store.register(RELOAD_MODEL), "champion")
    with run_service(mlflow_store.env(MODEL_NAME=RELOAD_MODEL), tmp_path) as service:
        http = httpx.Client(base_url=service.url, timeout=10)
        wait_until(lambda: http.get("/health").status_code == 200, timeout=60)
        loops = [RequestLoop(service.url) for _ in range(3)]  # concurrent: micro-batches too
        for loop in loops:
            loop.start()
        loop = loops[0]
        try:
            wait_until(lambda: all(len(x.statuses) > 20 for x in loops), timeout=10)

            # A new champion: served by the polling (10x the 1 s interval, for a loaded
            # machine), no restart. bench/serve.py measures how fast.
            new = mlflow_store.register(RELOAD_MODEL)
            registry.promote(client, RELOAD_MODEL, new, "champion")
            promoted = time.monotonic()
            wait_until(lambda: new in loop.first_seen, timeout=10)
            print(f"new champion served {loop.first_seen[new] - promoted:.2f} s after promotion")
            assert http.get("/health").json()["model_version"] == new

            # A champion whose artifact is broken: refused, the previous one keeps serving.
            broken = mlflow_store.register(RELOAD_MODEL, mlflow_store.log_broken_model())
            registry.promote(client, RELOAD_MODEL, broken, "champion")
            info = wait_until(
                lambda: (i := http.get("/model-info").json())["refused_versions"] and i, timeout=15
            )
            assert info["refused_versions"] == [broken]
            assert info["version"] == new
            assert info["last_reload_error"]["version"] == broken
            assert info["last_reload_error"]["stage"] == "load"
            assert info["last_reload_error"]["message"]
            # Three more polls of the alias: the broken version is not retried.
            checks_seen = {info["last_check_at"]}

            def three_more_checks() -> bool:
                checks_seen.add(http.get("/model-info").json()["last_check_at"])
                return len(checks_seen) > 3

            wait_until(three_more_checks, timeout=30, interval=0.1)
            metrics = http.get("/metrics").text
            assert _failures(metrics, "load") == 1
            assert "sentiment_model_refused_versions 1.0" in metrics
            assert http.get("/health").json()["model_version"] == new

            # An operator's forced reload retries it, and says why it failed.
            forced = http.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert forced.status_code == 502
            assert forced.json()["outcome"] == "refused" and forced.json()["changed"] is False
            assert _failures(http.get("/metrics").text, "load") == 2
        finally:
            for each in loops:
                each.stop()
        for each in loops:
            assert not each.errors, each.errors[:3]
            assert set(each.statuses) == {200}, service.output()[-2000:]
            assert each.versions[-1] == new
            assert broken not in each.versions
