"""The stack under test: started with `sentiment stack up --detach`, reached over HTTP and S3.

Every call to the stack goes through its public faces (the CLI, the servers' HTTP APIs, S3),
as a user's would. Clients in this process are built explicitly from the URLs; nothing here
writes `os.environ`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from tests.support.flow_spec import FLOW_NAME, TASK_NAMES
from tests.support.paths import DEMO_DATA, PARAMS_FILE, PROJECT_ROOT
from tests.support.processes import free_port, wait_until
from tests.support.seaweed import free_s3_port

SENTIMENT = [sys.executable, "-m", "sentiment_mlops"]
# Prometheus runs when its binary is installed (CI installs it; tests/stack/test_prometheus.py
# fails there without it).
SERVICES = {"s3", "mlflow", "prefect", "worker", "api"} | (
    {"prometheus"} if shutil.which("prometheus") else set()
)
# Variables of the developer's shell that would point the stack or the CLI elsewhere.
_FOREIGN_PREFIXES = ("MLFLOW_", "PREFECT_", "AWS_", "STACK_", "MODEL_", "WEBHOOK_", "ADMIN_")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_PREFIXES)}


def write_params(folder: Path, name: str, max_features: int) -> Path:
    """The project's params.yaml with another vectorizer size (fewer features: a worse model)."""
    params = yaml.safe_load(PARAMS_FILE.read_text())
    params["vectorizer"]["max_features"] = max_features
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@dataclass
class RunningStack:
    """A stack started for the tests, on free ports, with its own databases and folder."""

    root: Path
    databases: tuple[str, str, str]  # MLflow's, Prefect's, the prediction log's
    ports: dict[str, int]
    s3_keys: tuple[str, str] = field(
        default_factory=lambda: ("stack-test", secrets.token_urlsafe(16))
    )
    # The environment `sentiment stack ...` runs with; what `stack up` printed, and its time.
    env: dict[str, str] = field(default_factory=dict)
    up_output: str = ""
    up_seconds: float = 0.0

    @property
    def stack_dir(self) -> Path:
        return self.root / ".stack"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['mlflow']}"

    @property
    def prefect_api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prefect']}/api"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    # --- environments ---------------------------------------------------------------------

    def stack_env(self, pg_url: str) -> dict[str, str]:
        """For `sentiment stack ...`: ports, folders, databases, fast polling for the tests."""
        return clean_environment() | {
            "STACK_DIR": str(self.stack_dir),
            "STACK_PROJECT_DIR": str(PROJECT_ROOT),
            "STACK_POSTGRES_URL": pg_url,
            "STACK_MLFLOW_DATABASE": self.databases[0],
            "STACK_PREFECT_DATABASE": self.databases[1],
            "STACK_PREDICTIONS_DATABASE": self.databases[2],
            "STACK_S3_PORT": str(self.ports["s3"]),
            "STACK_MLFLOW_PORT": str(self.ports["mlflow"]),
            "STACK_PREFECT_PORT": str(self.ports["prefect"]),
            "STACK_API_PORT": str(self.ports["api"]),
            "STACK_PROMETHEUS_PORT": str(self.ports["prometheus"]),
            "STACK_S3_ACCESS_KEY_ID": self.s3_keys[0],
            "STACK_S3_SECRET_ACCESS_KEY": self.s3_keys[1],
            "STACK_WORKER_POLL_SECONDS": "1",
            # The API checks the champion every second; deployment runs train on the demo set.
            "MODEL_RELOAD_INTERVAL": "1",
            "DATA_PATH": str(DEMO_DATA),
            "PARAMS_PATH": str(PARAMS_FILE),
            # A loaded machine may need longer than the default for MLflow's first start.
            **{k: v for k, v in os.environ.items() if k == "STACK_START_TIMEOUT"},
        }

    def client_env(self) -> dict[str, str]:
        """For the CLI as a user runs it against the stack (what `source .stack/env` sets)."""
        return clean_environment() | {
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "PREFECT_API_URL": self.prefect_api_url,
            "PREFECT_HOME": str(self.root / "prefect-client"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DATA_PATH": str(DEMO_DATA),
            "PARAMS_PATH": str(PARAMS_FILE),
        }

    def s3_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.s3_keys[0],
            "AWS_SECRET_ACCESS_KEY": self.s3_keys[1],
            "AWS_ENDPOINT_URL": self.s3_url,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    # --- commands -------------------------------------------------------------------------

    def sentiment(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run `sentiment <args>` as a user would against the stack; returns its result."""
        return subprocess.run(
            [*SENTIMENT, *args],
            env=env or self.client_env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start_training(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*SENTIMENT, "train", *args],
            env=self.client_env(),
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def supervisorctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`supervisorctl -c .stack/supervisord.conf <args>`, as the README shows it."""
        conf = str(self.stack_dir / "supervisord.conf")
        command = [sys.executable, "-m", "supervisor.supervisorctl", "-c", conf, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    def supervisord(self) -> psutil.Process | None:
        """The stack's supervisord (from its pidfile), if it runs."""
        try:
            pid = int((self.stack_dir / "supervisord.pid").read_text())
            return psutil.Process(pid)
        except (OSError, ValueError, psutil.Error):
            return None

    def processes(self) -> list[psutil.Process]:
        """supervisord and every live process under it: the services and all they started."""
        supervisord = self.supervisord()
        if supervisord is None:
            return []
        with contextlib.suppress(psutil.Error):
            return [supervisord, *supervisord.children(recursive=True)]
        return [supervisord]

    # --- clients --------------------------------------------------------------------------

    def mlflow(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.mlflow_url, registry_uri=self.mlflow_url)

    def s3(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            aws_access_key_id=self.s3_keys[0],
            aws_secret_access_key=self.s3_keys[1],
            region_name="us-east-1",
        )

    def bucket_keys(self, bucket: str) -> list[str]:
        paginator = self.s3().get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket)
            for item in page.get("Contents", [])
        ]

    def prefect(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """GET (or POST with a body) on the Prefect server's REST API; returns the JSON."""
        url = f"{self.prefect_api_url}/{path.lstrip('/')}"
        if body is None:
            response = httpx.get(url, timeout=10)
        else:
            response = httpx.post(url, json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def flow_run_ids(self) -> set[str]:
        runs = self.prefect("flow_runs/filter", {"flows": {"name": {"any_": [FLOW_NAME]}}})
        return {run["id"] for run in runs}

    def task_runs(self, flow_run_id: str) -> list[dict[str, Any]]:
        return self.prefect("task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})

    def wait_task_runs_completed(self, flow_run_id: str, timeout: float = 30) -> list[dict]:
        """Task run states reach the server as events, a moment after the flow ends."""
        found: list[dict[str, Any]] = []

        def all_completed() -> bool:
            found[:] = self.task_runs(flow_run_id)
            names = {run["name"].rsplit("-", 1)[0] for run in found}
            done = all(run["state_type"] == "COMPLETED" for run in found)
            return names >= TASK_NAMES and done

        # On a timeout the caller's assertions show the states.
        with contextlib.suppress(TimeoutError):
            wait_until(all_completed, timeout, "every task run Completed", interval=0.5)
        return found

    def api_health(self) -> httpx.Response:
        return httpx.get(f"{self.api_url}/health", timeout=5)

    def wait_api_version(self, version: str, timeout: float = 60) -> None:
        def serving() -> bool:
            try:
                return self.api_health().json().get("model_version") == version
            except (httpx.HTTPError, ValueError):
                return False

        wait_until(serving, timeout, f"the API serving version {version}", interval=0.2)


def new_ports() -> dict[str, int]:
    return {
        "s3": free_s3_port(),
        "mlflow": free_port(),
        "prefect": free_port(),
        "api": free_port(),
        "prometheus": free_port(),
    }


def output(result: subprocess.CompletedProcess[str] | Sequence[str]) -> str:
    if isinstance(result, subprocess.CompletedProcess):
        return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return "\n".join(result)


def status_rows(stdout: str, services: set[str] = SERVICES) -> dict[str, str]:
    """The rows of the `sentiment stack status` table, by service name (cells joined by │)."""
    rows = [line.split() for line in stdout.splitlines()]
    return {row[1]: " ".join(row) for row in rows if len(row) > 1 and row[1] in services}


def status_cells(row: str) -> list[str]:
    """The cells of one status row: service, supervisord state, pid, uptime, state, url."""
    return [cell.strip() for cell in row.strip("│ ").split("│")]
