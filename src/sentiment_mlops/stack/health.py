"""Health checks: is a service up, answering, and (for the worker) really ours? And what does
the API's readiness check say (is a model served)?"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sentiment_mlops.stack.services import WORKER_NAME, ServiceSpec

# Seconds between two checks of `poll`.
POLL_INTERVAL = 0.25


def poll(check: Callable[[], bool], timeout: float, interval: float = POLL_INTERVAL) -> bool:
    """Call `check` until it returns True (True) or `timeout` seconds have passed (False).
    The one wait loop of the stack: the caller says what failing means (a `check` may raise
    to stop at once, as the lifecycle does when the process it waits for exits)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def answers_ok(url: str) -> bool:
    """Whether a GET of `url` answers 200 (within 3 s)."""
    import httpx

    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def is_healthy(spec: ServiceSpec, since: float) -> bool:
    """Whether the service answers its health check (see `ServiceSpec.health_kind`)."""
    if spec.health_kind != "worker":
        return answers_ok(spec.health_url)
    import httpx

    try:
        response = httpx.post(spec.health_url, json={}, timeout=3)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and worker_beat_since(response.json(), since)


def worker_beat_since(workers: list[dict[str, Any]], since: float) -> bool:
    """Whether our worker's last heartbeat is newer than `since` (a Unix time)."""
    for worker in workers:
        if worker.get("name") != WORKER_NAME or not worker.get("last_heartbeat_time"):
            continue
        beat = datetime.fromisoformat(worker["last_heartbeat_time"].replace("Z", "+00:00"))
        # Allow for clock rounding between the server's timestamps and the process's.
        if beat.timestamp() >= since - 1:
            return True
    return False


def describe_readiness(url: str) -> str:
    """What the API's `/health` says, in words: `healthy, model v3` (200) or
    `up, no model loaded (503)`; `status` shows it so that a live API without a model does not
    read as healthy."""
    import httpx

    try:
        response = httpx.get(url, timeout=3)
    except httpx.HTTPError as error:
        return f"up, {url} did not answer ({type(error).__name__})"
    try:
        body = response.json()
    except ValueError:
        body = {}
    version = body.get("model_version") if isinstance(body, dict) else None
    if response.status_code == 200:
        return f"healthy, model v{version}" if version else "healthy"
    if response.status_code == 503 and isinstance(body, dict) and not body.get("model_loaded"):
        return "up, no model loaded (503)"
    return f"up, /health answered {response.status_code}"
