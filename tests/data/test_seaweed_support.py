"""The reusable S3 server helper: starts, enforces credentials, and leaves no process behind."""

from __future__ import annotations

import os
from pathlib import Path

import botocore.exceptions
import pytest

from tests.support.seaweed import SeaweedS3

pytestmark = pytest.mark.slow


def test_server_serves_s3_with_its_credentials_only_and_stops_cleanly(tmp_path: Path) -> None:
    with SeaweedS3(tmp_path, buckets=["first", "second"]) as server:
        process = server.process
        assert process is not None
        client = server.client()
        assert {b["Name"] for b in client.list_buckets()["Buckets"]} == {"first", "second"}
        client.put_object(Bucket="first", Key="k", Body=b"bytes")
        assert client.get_object(Bucket="first", Key="k")["Body"].read() == b"bytes"

        intruder = SeaweedS3(tmp_path / "unused", secret_key="wrong")
        intruder.ports = server.ports
        with pytest.raises(botocore.exceptions.ClientError):
            intruder.client().list_buckets()

    assert process.poll() is not None  # exited and reaped
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)
    assert server.process is None
    server.stop()  # stopping twice is harmless
    for port in server.ports.values():
        assert not list(Path("/tmp").glob(f"seaweedfs-*-{port}.sock"))
        assert not list(Path("/tmp").glob(f"seaweedfs-*-{port + 10000}.sock"))
