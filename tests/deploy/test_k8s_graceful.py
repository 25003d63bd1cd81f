"""A rolling update drops no request: the pod leaves the Service's endpoints during preStop, then
SIGTERM makes uvicorn refuse new connections and finish the ones in flight, all within the
termination grace period. The drain is checked on a real `sentiment serve` process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
from pathlib import Path

import pytest

from tests.deploy.k8s import find, pod_spec, rendered
from tests.deploy.tools import REPO, require_tool
from tests.support.processes import ServerProcess, free_port, wait_until

SERVER = REPO / "src" / "sentiment_mlops" / "serving" / "server.py"


def uvicorn_drain_seconds() -> int:
    """uvicorn's graceful shutdown timeout, as serving/server.py sets it."""
    (seconds,) = re.findall(r'"timeout_graceful_shutdown": (\d+)', SERVER.read_text())
    return int(seconds)


def grace_problems(objects: list[dict]) -> list[str]:
    spec = pod_spec(find(objects, "Deployment", "sentiment-api"))
    command = spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    pre_stop = int(command[-1]) if command[:1] == ["sleep"] else 0
    needed = pre_stop + uvicorn_drain_seconds()
    grace = spec["terminationGracePeriodSeconds"]
    if pre_stop < 5 or grace <= needed:
        return [
            f"grace {grace} s for preStop {pre_stop} s + uvicorn's drain of {needed - pre_stop} s"
        ]
    return []


def test_grace_period_covers_prestop_and_the_drain() -> None:
    assert grace_problems(rendered("prod")) == []


@pytest.mark.slow  # a server process: over a second of CPU
def test_uvicorn_finishes_a_request_in_flight_after_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "PREDICTION_LOG_URL": "off",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",  # nothing there: no model, 503
        "MODEL_RELOAD_INTERVAL": "60",
    }
    command = [require_tool("sentiment", "uv sync"), "serve", "--port", str(port)]
    body = json.dumps({"text": "A wonderful, moving film."}).encode()
    # `Expect: 100-continue`: uvicorn says "100 Continue" once the app reads the body, so the
    # test knows the request is in flight (not still unread in a socket buffer) before SIGTERM.
    head = (
        b"POST /predict HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\n"
    )
    with ServerProcess(command, env, tmp_path / "api.log", cwd=tmp_path) as server:
        wait_until(
            lambda: socket.create_connection(("127.0.0.1", port)), 60, "the API", ignore=(OSError,)
        )
        client = socket.create_connection(("127.0.0.1", port), timeout=20)
        client.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body))
        assert client.recv(4096).startswith(b"HTTP/1.1 100 Continue")
        client.sendall(body[:10])

        os.kill(server.pid, signal.SIGTERM)

        def refused() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except ConnectionRefusedError:
                return True
            return False

        wait_until(refused, 10, "uvicorn to stop accepting")
        client.setblocking(False)
        try:
            early = client.recv(1)
        except BlockingIOError:
            early = b""
        assert early == b"", "answered before the request was complete"
        client.setblocking(True)
        client.sendall(body[10:])
        reply = client.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 503"), reply  # an answer (no model yet), not a reset
        wait_until(lambda: server.poll() is not None, 15, "uvicorn to exit")
