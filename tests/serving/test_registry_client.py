"""The API's REST client sends MLflow's credentials as MLflow does and reports errors as ours.

What goes on the wire is recorded by a small HTTP server that answers as MLflow does for an
unknown alias (404, RESOURCE_DOES_NOT_EXIST); the real tracking server is in
test_serving_imports.py (a proxying server, the champion loaded through this client).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from sentiment_mlops.errors import ServiceUnavailableError
from sentiment_mlops.redaction import redactor_for
from sentiment_mlops.serving.registry_client import MlflowRegistry, RestRegistry, open_registry
from sentiment_mlops.settings import Settings
from tests.support.processes import free_port


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        _Recorder.seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
        body = json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no alias"})
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    # shutdown() waits for serve_forever's next poll: 0.5 s apart by default, per test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    _Recorder.seen.clear()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _client(**values: Any) -> RestRegistry:
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    registry = open_registry(settings, redactor_for(settings))
    assert isinstance(registry, RestRegistry)
    return registry


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, None),
        ({"mlflow_tracking_token": "tok-1"}, "Bearer tok-1"),
        (  # a user name and password win over a token, as in MLflow
            {
                "mlflow_tracking_username": "u",
                "mlflow_tracking_password": "p w",
                "mlflow_tracking_token": "tok-1",
            },
            _basic("u", "p w"),
        ),
        ({"userinfo": "user:s%40cret"}, _basic("user", "s@cret")),
    ],
)
def test_credentials_are_sent_as_mlflow_sends_them(
    recorder: str, values: dict[str, str], expected: str | None
) -> None:
    userinfo = values.pop("userinfo", None)
    uri = f"http://{userinfo}@{recorder}" if userinfo else f"http://{recorder}"
    client = _client(mlflow_tracking_uri=uri, **values)
    assert client.get_alias("sentiment-classifier", "champion") is None  # unknown alias
    (request,) = _Recorder.seen
    assert request["path"].startswith("/api/2.0/mlflow/registered-models/alias?")
    assert "name=sentiment-classifier" in request["path"]
    assert request["auth"] == expected
    assert "cret" not in client.base


def test_unreachable_server_is_a_service_error_without_the_password() -> None:
    client = _client(
        mlflow_tracking_uri=f"http://user:pw-9931@127.0.0.1:{free_port()}",
        mlflow_http_max_retries=0,
    )
    with pytest.raises(ServiceUnavailableError) as raised:
        client.get_alias("sentiment-classifier", "champion")
    assert "cannot reach the MLflow tracking server" in str(raised.value)
    assert "pw-9931" not in str(raised.value)
    assert "http://[REDACTED]@127.0.0.1" in str(raised.value)


@pytest.mark.parametrize(
    "values",
    [
        {"mlflow_tracking_uri": "sqlite:///mlflow.db"},
        {"mlflow_tracking_uri": "http://a:5000", "mlflow_registry_uri": "sqlite:///r.db"},
    ],
)
def test_local_stores_keep_mlflows_client(values: dict[str, str]) -> None:
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    assert isinstance(open_registry(settings, redactor_for(settings)), MlflowRegistry)


def test_mlflow_credentials_are_redacted() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        mlflow_tracking_password="pw-5521",
        mlflow_tracking_token="tok-7730",
    )
    assert redactor_for(settings)("sent pw-5521 and tok-7730") == "sent [REDACTED] and [REDACTED]"
