"""Child processes of the stack: started in their own session, stopped by PID.

Each service runs in a new session (so Ctrl-C in the terminal reaches only the supervisor, which
then stops the services in order) with its output appended to one log file. A PID alone can be
reused by an unrelated process after ours exits, so each PID is recorded with its start time and
checked before any signal is sent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

_START_TIME_TOLERANCE_S = 0.5


@dataclass(frozen=True)
class ProcessRecord:
    """A started process: enough to find it again (and only it) from another command."""

    pid: int
    create_time: float

    def process(self) -> psutil.Process | None:
        """The live process, or None if it exited or its PID now belongs to another one."""
        try:
            process = psutil.Process(self.pid)
            same = abs(process.create_time() - self.create_time) < _START_TIME_TOLERANCE_S
            if same and process.status() != psutil.STATUS_ZOMBIE:
                return process
        except psutil.Error:
            pass
        return None

    def is_alive(self) -> bool:
        return self.process() is not None


def child_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without AWS_* (a user's real cloud keys stay out of the
    stack: each service gets the S3 keys it needs explicitly), plus `overrides`."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return base | dict(overrides)


def spawn(
    command: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start `command` in a new session with stdout and stderr appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as log_file:
        log_file.write(f"\n=== started {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log_file.flush()
        popen = subprocess.Popen(
            list(command),
            env=child_environment(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        create_time = psutil.Process(popen.pid).create_time()
    except psutil.Error:
        create_time = time.time()  # already gone: wait_ready reports its exit
    return popen, ProcessRecord(popen.pid, create_time)


def wait_ready(
    record: ProcessRecord, check: Callable[[], bool], timeout: float, what: str, log: Path
) -> float:
    """Poll `check` until it passes; returns the seconds since the process started.

    Fails at once if the process exits, with the end of its log.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not record.is_alive():
            raise RuntimeError(f"{what} exited while starting; end of {log}:\n{tail(log)}")
        if check():
            return time.time() - record.create_time
        time.sleep(0.25)
    raise RuntimeError(f"{what} not healthy within {timeout:.0f} s; end of {log}:\n{tail(log)}")


def stop(records: Sequence[ProcessRecord], timeout: float = 20.0) -> list[bool]:
    """SIGTERM each process, its process group and its descendants, all at once; after
    `timeout` SIGKILL what remains. One flag per record: False when it was already gone (or
    its PID is no longer ours)."""
    found = [record.process() for record in records]
    family: list[psutil.Process] = []
    for record, process in zip(records, found, strict=True):
        if process is None:
            continue
        try:
            family += [process, *process.children(recursive=True)]
        except psutil.Error:
            family.append(process)
        _signal_group(record.pid, signal.SIGTERM)
    for member in family:
        _signal(member, signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=timeout)
    if alive:
        for record, process in zip(records, found, strict=True):
            if process is not None:
                _signal_group(record.pid, signal.SIGKILL)
        for member in alive:
            _signal(member, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=10)
    return [process is not None for process in found]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on the port (connections in TIME_WAIT do not count:
    servers set SO_REUSEADDR, and so does this check)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def tail(log: Path, lines: int = 25) -> str:
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _signal_group(pid: int, signum: int) -> None:
    # Only when the process leads its own group (spawn makes it so): never signal our own group.
    try:
        if os.getpgid(pid) == pid and pid != os.getpgrp():
            os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _signal(process: psutil.Process, signum: int) -> None:
    with contextlib.suppress(psutil.Error):
        process.send_signal(signum)
