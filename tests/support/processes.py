"""Starting real server processes for tests: free ports, readiness polling, clean teardown.

The tests' one process helper: every test server (uvicorn, MLflow, SeaweedFS) is a
`ServerProcess`; the stack's services are supervisord's (see `sentiment_mlops.stack`)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self, TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    check: Callable[[], T],
    timeout: float,
    what: str = "condition",
    interval: float = 0.2,
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Poll `check` until it returns something truthy and return that, or raise TimeoutError.

    Exceptions of the `ignore` types count as "not yet", such as a server still refusing
    connections. `check` runs once more after the deadline, so a slow last poll still counts.
    The polls start 0.01 s apart and double up to `interval`: most waits here are over within
    a few tenths of a second, and each lost on average half an interval past its condition.
    """
    deadline = time.monotonic() + timeout
    pause = min(interval, 0.01)
    while True:
        try:
            value = check()
        except ignore:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready within {timeout:g} s")
        time.sleep(pause)
        pause = min(pause * 2, interval)


def http_ok(url: str) -> Callable[[], bool]:
    """A check that `url` answers 200, for `wait_ready`'s polls (up to five a second).

    One client for all the polls: a new httpx client builds an SSL context, ~0.1 s of CPU,
    which over a server's start of 10-30 s came to seconds of CPU per server."""
    client = httpx.Client(timeout=2)

    def check() -> bool:
        try:
            return client.get(url).status_code == 200
        except httpx.TransportError:
            return False

    return check


class ServerProcess:
    """A process in its own session, with its output in a log file, killed with its children.

    It inherits this process's environment updated with `env`, where a None value removes the
    variable. As a context manager it stops the process on exit.
    """

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str | None],
        log: Path,
        cwd: Path | None = None,
        url: str = "",
    ):
        self.command = list(command)
        self.log = log
        self.url = url  # where it serves, for the caller's convenience
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = log.open("ab")
        environment = {k: v for k, v in (os.environ | env).items() if v is not None}
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            self.command,
            env=environment,
            cwd=cwd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wait_ready(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        def alive_and_ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"{what} exited ({self.process.returncode}): {self.tail()}")
            return check()

        wait_until(alive_and_ready, timeout, what)

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        """The exit code, or None while it runs (as `Popen.poll`)."""
        return self.process.poll()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self._log_file.close()

    def kill(self) -> None:
        """Stop at once (SIGKILL to its session): for a server whose files are thrown away."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log_file.close()
