"""Run the API under uvicorn (what `sentiment serve` calls)."""

from __future__ import annotations

from typing import TypedDict

import uvicorn

from sentiment_mlops.settings import Settings, get_settings

APP_FACTORY = "sentiment_mlops.serving.app:create_app"


class _UvicornOptions(TypedDict):
    """The `uvicorn.run` options we set, typed so that mypy checks them against uvicorn's."""

    host: str
    port: int
    log_level: str
    access_log: bool
    timeout_graceful_shutdown: int
    limit_concurrency: int
    timeout_keep_alive: int


def run_server(
    settings: Settings | None = None,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> None:
    """Serve until stopped; arguments left as None come from the settings.

    With more than one worker, uvicorn starts each worker from the import string and each reads
    its settings from the environment (so settings built in code apply to one worker only).
    Every worker has its own model store and watcher; a webhook reaches one of them and the
    others follow within the reload interval.

    Uvicorn has no timeout for reading a request, so a client that sends its body slowly holds
    its connection for as long as it likes; in production a reverse proxy with read timeouts
    goes in front (README, "How serving works"). The connection limit bounds what such clients
    can hold meanwhile.
    """
    settings = settings or get_settings()
    host = host or settings.api_host
    port = port or settings.api_port
    workers = workers or settings.api_workers
    options: _UvicornOptions = {
        "host": host,
        "port": port,
        "log_level": settings.log_level.lower(),
        # An access log line per request costs about a tenth of a prediction; the metrics and
        # LOG_LEVEL=DEBUG cover what it would tell.
        "access_log": settings.log_level.upper() == "DEBUG",
        "timeout_graceful_shutdown": 10,
        "limit_concurrency": settings.api_limit_concurrency,
        "timeout_keep_alive": settings.api_timeout_keep_alive,
    }
    if workers > 1:
        uvicorn.run(APP_FACTORY, factory=True, workers=workers, **options)
    else:
        from sentiment_mlops.serving.app import create_app

        uvicorn.run(create_app(settings), **options)
