"""A client that reaches the MLflow server but not its S3 endpoint still loads models.

The MLflow server proxies artifacts (`--serve-artifacts`), yet by default MLflow 3 clients ask
such a server for presigned S3 URLs and download from S3 directly, at the address the *server*
uses (`http://minio:9000` in docker compose, unknown to a CLI on the host): the download then
retries for minutes. The tests send every connection but the one to MLflow through a proxy
that refuses it, so S3 is out of reach, as it is from the host in compose.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.stack.conftest import Story
from tests.stack.helpers import RunningStack, output
from tests.support.processes import free_port

pytestmark = pytest.mark.stack

REVIEW = "A wonderful, moving film with brilliant acting."
# Run in the client environment: can it reach MLflow, and S3 (through the proxy settings)?
PROBE = """
import sys, requests
for url in sys.argv[1:]:
    try:
        print(url, requests.get(url, timeout=5).status_code)
    except requests.RequestException as error:
        print(url, type(error).__name__)
"""


def _without_s3(stack: RunningStack) -> dict[str, str]:
    """The client environment, with only the MLflow server reachable (the S3 port is not)."""
    refused = f"http://127.0.0.1:{free_port()}"  # nothing listens: every proxied call fails
    mlflow = f"localhost:{stack.ports['mlflow']}"
    return stack.client_env() | {
        # A host name, not an IP: requests matches host:port in NO_PROXY only for names.
        "MLFLOW_TRACKING_URI": f"http://{mlflow}",
        "HTTP_PROXY": refused,
        "http_proxy": refused,
        "NO_PROXY": mlflow,
        "no_proxy": mlflow,
    }


def test_the_server_offers_presigned_downloads_the_client_cannot_use(stack: RunningStack) -> None:
    """The situation is real: the server advertises direct downloads, and S3 is out of reach."""
    info = httpx.get(f"{stack.mlflow_url}/api/3.0/mlflow/server-info", timeout=10).json()
    assert info["multipart_downloads_enabled"] is True, info

    env = _without_s3(stack)
    health = f"{env['MLFLOW_TRACKING_URI']}/health"
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, health, stack.s3_url],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert probe.stdout.splitlines() == [f"{health} 200", f"{stack.s3_url} ProxyError"], probe


def test_cli_loads_the_champion_through_the_mlflow_server_only(
    stack: RunningStack, story: Story
) -> None:
    result = stack.sentiment("predict", REVIEW, env=_without_s3(stack), timeout=120)

    assert result.returncode == 0, output(result)
    assert "positive" in result.stdout, output(result)
