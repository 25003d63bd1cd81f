"""Hostile and broken clients against a real uvicorn process: huge invalid bodies, clients that
leave mid-body, idle and surplus connections. No model is needed for any of them: the slow ones
have a server with a connection limit of their own, the others use the session's served API."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

# Measured as the benchmark of the same body measures it (the repository root is on the path).
from bench.hostile_body import memory_mb

from tests.serving.helpers import MlflowStore, run_service, wait_until
from tests.serving.log_support import LoggedService
from tests.support.processes import ServerProcess


@pytest.fixture(scope="module")
def service(
    mlflow_store: MlflowStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The API with no champion to load, a connection limit of 3 and a 30 s keep-alive."""
    env = mlflow_store.env(
        MODEL_NAME="no-such-model", API_LIMIT_CONCURRENCY="3", API_TIMEOUT_KEEP_ALIVE="30"
    )
    with run_service(env, tmp_path_factory.mktemp("hostile")) as server:
        wait_until(lambda: httpx.get(f"{server.url}/health/live").status_code == 200, timeout=60)
        yield server


@pytest.fixture
def shared(sqlite_logged: LoggedService) -> ServerProcess:
    """The session's served API, for the tests that need no setting of their own."""
    assert sqlite_logged.server is not None
    return sqlite_logged.server


def _raw_request(sock: socket.socket, path: str = "/health/live") -> bytes:
    """One keep-alive GET on an open socket; the head and body of its answer."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def _read_head(sock: socket.socket) -> bytes:
    """Bytes from `sock` up to the end of one answer's head (30 s at most)."""
    sock.settimeout(30)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1024)
        if not chunk:
            break
        head += chunk
    return head


@pytest.mark.slow
def test_a_huge_batch_of_integers_is_a_small_422_without_stalling_the_server(
    service: ServerProcess,
) -> None:
    """3 million integers (6 MB): one error, not 3 million, within bounded memory; /health
    answers meanwhile. How fast, and how slow /health gets: bench/hostile_body.py (timings
    are not asserted here: a loaded machine would fail them)."""
    body = b'{"texts": [' + b"1," * 2_999_989 + b"1]}"
    assert len(body) < 6_000_000  # under MAX_BODY_BYTES: it reaches validation
    before = memory_mb(service.process.pid)
    health: list[int | str] = []  # status codes, or the error of a failed poll
    done = threading.Event()

    def poll_health() -> None:
        with httpx.Client(base_url=service.url, timeout=120) as client:
            while not done.is_set():
                try:
                    health.append(client.get("/health/live").status_code)
                except httpx.HTTPError as error:
                    health.append(repr(error))
                time.sleep(0.05)

    poller = threading.Thread(target=poll_health)
    poller.start()
    try:
        response = httpx.post(
            f"{service.url}/predict/batch",
            content=body,
            headers={"content-type": "application/json"},
            timeout=300,
        )
    finally:
        done.set()
        poller.join()
    growth = memory_mb(service.process.pid)["VmHWM"] - before["VmRSS"]
    print(f"peak RSS +{growth:.0f} MB, {len(health)} /health answers meanwhile")
    assert response.status_code == 422
    assert len(response.content) < 2000
    assert "body.texts: batch has more texts than the limit of 256" in response.json()["message"]
    assert health and set(health) == {200}, health
    # A generous bound (about 10x what this takes here); before the fix: +4.2 GB.
    assert growth < 1500


def test_many_bad_fields_report_the_first_ten_and_a_count(shared: ServerProcess) -> None:
    extra = ",".join(f'"field{i}": 1' for i in range(50_000))
    response = httpx.post(
        f"{shared.url}/predict",
        content=f'{{"text": "ok", {extra}}}',
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 422
    body = response.json()
    assert len(body["detail"]) == 10 and body["error_count"] == 50_000
    assert body["message"].startswith("body.field0: Extra inputs are not permitted")
    assert body["message"].endswith("(and 49990 more errors)")


def test_a_client_leaving_mid_body_is_a_499_not_a_500(shared: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", int(shared.url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n"
        )
        # uvicorn answers "100 Continue" when the app first asks for the body: the request has
        # reached the app, which now waits for the rest of it.
        assert _read_head(sock).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b'{"text": "')

    def metrics() -> str:
        return httpx.get(f"{shared.url}/metrics").text

    counted = 'sentiment_http_requests_total{endpoint="/predict",method="POST",status="499"} 1.0'
    text = wait_until(lambda: counted in metrics() and metrics(), timeout=30)
    assert 'status="500"' not in text
    log = shared.output()
    assert "client disconnected during POST '/predict'" in log
    assert "Traceback" not in log and "Exception in ASGI application" not in log


@pytest.mark.slow
def test_configured_keep_alive_and_connection_limit_are_applied(service: ServerProcess) -> None:
    address = ("127.0.0.1", int(service.url.rsplit(":", 1)[1]))
    with socket.create_connection(address) as first, socket.create_connection(address) as second:
        assert _raw_request(first).startswith(b"HTTP/1.1 200")
        assert _raw_request(second).startswith(b"HTTP/1.1 200")
        # Two connections open: a third is over API_LIMIT_CONCURRENCY=3 (uvicorn counts its own).
        third = httpx.get(f"{service.url}/health/live")
        assert third.status_code == 503
        # uvicorn's default keep-alive (5 s) would have closed `first` by now; 30 s are set.
        time.sleep(6.5)
        first.settimeout(10)
        assert _raw_request(first).startswith(b"HTTP/1.1 200")
