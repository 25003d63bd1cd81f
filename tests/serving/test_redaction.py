"""Credentials never reach a response or a log line: the redaction itself, a real service whose
tracking URI carries a password, and the CLI's one-line error for the same URI."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from uvicorn.logging import AccessFormatter

from sentiment_mlops.redaction import MASK, Redactor, install_log_redaction, redactor_for
from tests.serving.helpers import (
    ADMIN_TOKEN,
    WEBHOOK_SECRET,
    MlflowStore,
    run_cli,
    run_service,
    wait_until,
)
from tests.support.processes import free_port

PASSWORD = "s3cr3t"


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        (
            "API request to http://user:s3cr3t@127.0.0.1:1/api/2.0/x failed",
            ["s3cr3t", "user:"],
            ["API request to http://", "@127.0.0.1:1/api/2.0/x failed"],
        ),
        ("'http://user:p@ss@host:5000/x'", ["p@ss", "user"], ["@host:5000/x'"]),
        ("https://ghp_tok3n@example.org/repo", ["ghp_tok3n"], ["@example.org/repo"]),
        (
            "GET /o?X-Amz-Signature=abc1&X-Amz-Credential=AKIA9%2F&name=ok HTTP/1.1",
            ["abc1", "AKIA9"],
            ["X-Amz-Signature=", "name=ok HTTP/1.1"],
        ),
        ("url: /alias?name=m&alias=champion&token=zz9 (Caused", ["zz9"], ["name=m&alias=champion"]),
        ("https://a.blob.core.windows.net/c?sv=2020&sig=Zm9v", ["Zm9v"], ["sv=2020"]),
        ("/x?api_key=k1&client_secret=k2&password=k3", ["k1", "k2", "k3"], ["/x?api_key="]),
    ],
)
def test_credentials_in_urls_are_masked(text: str, hidden: list[str], kept: list[str]) -> None:
    clean = Redactor()(text)
    assert MASK in clean
    for secret in hidden:
        assert secret not in clean
    for part in kept:
        assert part in clean


@pytest.mark.parametrize(
    "text",
    ["s3://bucket/model.pkl?versionId=3", "models:/m-1234", "a@b.c: no URL", "/x?name=a&key"],
)
def test_text_without_credentials_is_unchanged(text: str) -> None:
    assert Redactor()(text) == text


def test_the_settings_secrets_are_masked_anywhere(mlflow_store: MlflowStore) -> None:
    settings = mlflow_store.settings(
        mlflow_tracking_uri="http://user:p%40ss@mlflow.example:5000",
        mlflow_registry_uri="https://tok3n@registry.example",
    )
    redact = redactor_for(settings)
    clean = redact(f"{ADMIN_TOKEN} {WEBHOOK_SECRET} p@ss p%40ss tok3n user")
    for secret in (ADMIN_TOKEN, WEBHOOK_SECRET, "p@ss", "p%40ss", "tok3n"):
        assert secret not in clean
    assert clean.endswith(" user")  # a user name next to a password is not a secret


@pytest.mark.parametrize(
    "text",
    [
        "://" + "a" * 1_000_000,
        "://" + "a@" * 500_000,
        "?" + "a" * 1_000_000,
        "&a" * 500_000,
        "a" * 1_000_000,
    ],
    ids=["authority", "at-signs", "query-name", "many-names", "plain"],
)
def test_redaction_is_linear_in_the_text(text: str) -> None:
    # CPU time of this thread, which other processes on a loaded machine do not inflate.
    started = time.thread_time()
    Redactor(("zz",))(text)
    # About 0.1 s each here; a pattern that backtracks would take hours on a megabyte.
    assert time.thread_time() - started < 10


@pytest.fixture
def redacted_logging() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger with its own handler that does not propagate, as MLflow's and uvicorn's."""
    factory = logging.getLogRecordFactory()
    install_log_redaction(Redactor(("hunter2",)))
    logger = logging.getLogger("tests.redaction.own-handler")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(factory)


def test_log_records_are_cleaned_whatever_the_handler(
    redacted_logging: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = redacted_logging
    logger.warning("connecting to %s", "http://u:hunter2@h:5000/api")
    logger.warning("failed: %s", ValueError("http://u:pw@h/x?token=abc9 hunter2"))
    try:
        raise RuntimeError("the token is hunter2")
    except RuntimeError:
        logger.exception("boom")
    output = stream.getvalue()
    for secret in ("hunter2", "u:pw", "abc9"):
        assert secret not in output
    assert "connecting to http://[REDACTED]@h:5000/api" in output
    assert "RuntimeError: the token is [REDACTED]" in output  # the traceback, cleaned


def test_uvicorns_access_log_still_formats(
    redacted_logging: tuple[logging.Logger, io.StringIO],
) -> None:
    """uvicorn's access formatter unpacks the record's arguments: they must stay a tuple."""
    logger, stream = redacted_logging
    logger.handlers[0].setFormatter(
        AccessFormatter("%(request_line)s %(status_code)s", use_colors=False)
    )
    logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:9", "GET", "/x?token=hunter3", "1.1", 200)
    assert stream.getvalue().strip() == f"GET /x?token={MASK} HTTP/1.1 200 OK"


def _no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} in: {text[:2000]}"


@pytest.mark.slow
def test_a_password_in_the_tracking_uri_is_never_shown(
    mlflow_store: MlflowStore, tmp_path: Path
) -> None:
    tracking_uri = f"http://user:{PASSWORD}@127.0.0.1:{free_port()}"  # nothing listens there
    env = mlflow_store.env(
        MLFLOW_TRACKING_URI=tracking_uri,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        MLFLOW_HTTP_REQUEST_TIMEOUT="3",
        LOG_LEVEL="DEBUG",  # every log line there is, and uvicorn's access log
    )
    with run_service(env, tmp_path) as service:
        http = httpx.Client(base_url=service.url, timeout=10)
        info = wait_until(
            lambda: (i := http.get("/model-info").json())["last_reload_error"] and i, timeout=30
        )
        assert f"http://{MASK}@127.0.0.1" in info["last_reload_error"]["message"]
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        responses = [
            http.get("/model-info"),
            http.get("/metrics"),
            http.get("/health"),
            http.post("/admin/reload", headers=admin),  # 502 with the lookup error
            http.post("/admin/reload", headers={"Authorization": "Bearer wrong"}),
            http.post("/predict", json={"text": ""}),
            http.get("/model-info", params={"token": "qs-t0ken"}),
        ]
        assert [r.status_code for r in responses] == [200, 200, 503, 502, 401, 422, 200]
        assert "127.0.0.1" in responses[3].json()["error"]
        for response in responses:
            _no_secret(response.text, PASSWORD, ADMIN_TOKEN, WEBHOOK_SECRET)
    log = service.output()
    assert f"http://{MASK}@127.0.0.1" in log  # the lookup failures are logged, cleaned
    assert f"/model-info?token={MASK}" in log  # the access log, cleaned
    _no_secret(log, PASSWORD, "qs-t0ken", ADMIN_TOKEN, WEBHOOK_SECRET)


@pytest.mark.slow
def test_the_clis_error_does_not_show_the_password(
    mlflow_store: MlflowStore, tmp_path: Path
) -> None:
    env = mlflow_store.env(
        MLFLOW_TRACKING_URI=f"http://user:{PASSWORD}@127.0.0.1:{free_port()}",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
    )
    result = run_cli(env, tmp_path, "model-info")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"cannot reach the MLflow tracking server at http://{MASK}@127.0.0.1" in result.stderr
    _no_secret(result.stdout + result.stderr, PASSWORD)
