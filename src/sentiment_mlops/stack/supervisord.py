"""supervisord runs the stack's services: its config, written from the services, and a client.

`<stack dir>/supervisord.conf` has one `[program:x]` per service (autorestart, stopped and killed
as a process group, one log each), the reaper event listener (see `reaper`), and a Unix socket
in the stack folder through which `sentiment stack` and `supervisorctl -c <conf>` talk to it.
The services' environments, secrets included, are in the file, so it is written mode 0600 (like
`secrets.json` beside it): a wrapper that read them from another file would be a second process
per service and keep nothing more private. `Supervisord` is the XML-RPC client: typed answers,
no output parsing.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentiment_mlops.settings import StackSettings
from sentiment_mlops.stack import StackError
from sentiment_mlops.stack.secrets import write_private
from sentiment_mlops.stack.services import ServiceSpec

# A service that stays up this long counts as started; a crash after that is restarted.
_START_SECONDS = 2
_STOP_WAIT_SECONDS = 20
# Lower starts first and stops last: clients stop before the servers they call.
_PRIORITY = {"s3": 10, "mlflow": 20, "prefect": 20, "deploy": 30}
_CLIENT_PRIORITY = 40
REAPER = "reaper"
_MAX_SOCKET_PATH = 100  # Linux allows 107 bytes for a Unix socket's path


def render_config(settings: StackSettings, specs: Sequence[ServiceSpec]) -> str:
    """The supervisord config for `specs`; programs start only when asked (autostart off), in
    the order `Stack.up` gives, because provisioning and health waits sit between them."""
    stack_dir, logs = settings.stack_dir.resolve(), settings.logs.resolve()
    sections: dict[str, dict[str, Any]] = {
        "unix_http_server": {"file": stack_dir / "supervisor.sock", "chmod": "0700"},
        "supervisord": {
            "logfile": logs / "supervisord.log",
            "pidfile": stack_dir / "supervisord.pid",
            "childlogdir": logs,
            "identifier": "sentiment-stack",
        },
        "rpcinterface:supervisor": {
            "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
        },
        "supervisorctl": {"serverurl": f"unix://{stack_dir / 'supervisor.sock'}"},
    }
    for spec in specs:
        sections[f"program:{spec.name}"] = _program(spec, logs)
    sections[f"eventlistener:{REAPER}"] = {
        "command": _command([sys.executable, "-m", "sentiment_mlops.stack.reaper"]),
        "events": "PROCESS_STATE_EXITED",
        "stdout_logfile": "NONE",  # its stdout is its conversation with supervisord
        "stderr_logfile": logs / f"{REAPER}.log",
        "priority": 1,
    }
    lines = ["; written by `sentiment stack up`; holds the services' secrets (mode 0600)"]
    for title, values in sections.items():
        lines += ["", f"[{title}]"]
        lines += [f"{key}={_escape(str(value))}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _program(spec: ServiceSpec, logs: Path) -> dict[str, Any]:
    section: dict[str, Any] = {
        "command": _command(spec.command),
        "autostart": "false",
        "priority": _PRIORITY.get(spec.name, _CLIENT_PRIORITY),
        "stopasgroup": "true",
        "killasgroup": "true",
        "stopwaitsecs": _STOP_WAIT_SECONDS,
        "stdout_logfile": logs / f"{spec.name}.log",
        "redirect_stderr": "true",
    }
    if spec.cwd:
        section["directory"] = spec.cwd
    if spec.env:
        section["environment"] = ",".join(f'{k}="{_env_value(v)}"' for k, v in spec.env.items())
    if spec.oneshot:  # runs once to the end: exit 0 is success, nothing to restart
        return section | {"autorestart": "false", "startsecs": 0, "exitcodes": 0}
    return section | {"autorestart": "true", "startsecs": _START_SECONDS}


def _supervisord_binary() -> str:
    """`supervisord` beside this interpreter (the project's environment), else on PATH."""
    beside_python = Path(sys.executable).with_name("supervisord")
    found = str(beside_python) if beside_python.is_file() else shutil.which("supervisord")
    if found is None:
        raise StackError("supervisord is missing: install the project's `stack` extra")
    return found


def _command(command: Sequence[str]) -> str:
    return " ".join(shlex.quote(part) for part in command)


def _env_value(value: str) -> str:
    # supervisord splits `environment` on commas outside quotes, strips quotes from both ends
    # of a value and has no escape: a value with a quote cannot be passed (nor shown: secret).
    if any(char in value for char in "\"'\n"):
        raise ValueError("a stack setting or secret contains a quote or a newline")
    return value


def _escape(value: str) -> str:
    """supervisord expands `%(name)s` in values: a literal % is written %%."""
    return value.replace("%", "%%")


class Supervisord:
    """The supervisord of one stack folder, reached through its Unix socket."""

    def __init__(self, settings: StackSettings) -> None:
        self.conf = settings.stack_dir / "supervisord.conf"
        self.socket = (settings.stack_dir / "supervisor.sock").resolve()

    def write_config(self, settings: StackSettings, specs: Sequence[ServiceSpec]) -> None:
        write_private(self.conf, render_config(settings, specs))

    def launch(self, timeout: float = 30.0) -> None:
        """Start supervisord as a daemon (it outlives this command) and wait for its socket.

        It gets this environment without AWS_*: a user's cloud keys stay out of the stack; each
        service gets the S3 keys it needs from its own `environment`.
        """
        if len(str(self.socket)) > _MAX_SOCKET_PATH:
            raise StackError(
                f"the stack folder's path is too long for supervisord's Unix socket "
                f"({self.socket}); set STACK_DIR to a shorter one"
            )
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        result = subprocess.run(
            [_supervisord_binary(), "-c", str(self.conf.resolve())],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"supervisord did not start: {result.stderr.strip()[-2000:]}")
        deadline = time.monotonic() + timeout
        while not self.is_running():
            if time.monotonic() > deadline:
                raise StackError(f"supervisord did not answer on {self.socket}")
            time.sleep(0.1)

    def rpc(self) -> Any:
        """supervisord's XML-RPC namespace (`startProcess`, `getProcessInfo`, ...)."""
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def is_running(self) -> bool:
        try:
            return self.rpc().getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    def info(self, name: str) -> dict[str, Any]:
        """getProcessInfo: `statename`, `pid`, `start` (Unix time), `exitstatus`, logs."""
        return self.rpc().getProcessInfo(name)

    def programs(self) -> list[dict[str, Any]]:
        return self.rpc().getAllProcessInfo()

    def start(self, name: str) -> int:
        """Start a program without waiting; returns its PID."""
        self.rpc().startProcess(name, False)
        return int(self.info(name)["pid"])

    def stop(self, name: str) -> None:
        """Stop a program (its whole process group), waiting until it is gone."""
        try:
            self.rpc().stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise

    def tail(self, name: str, length: int = 4000) -> str:
        text, _, _ = self.rpc().tailProcessStdoutLog(name, 0, length)
        return text

    def shutdown(self, timeout: float = 120.0) -> None:
        """Stop every program (clients first, by priority) and supervisord; wait until done."""
        try:
            self.rpc().shutdown()
        except (OSError, xmlrpc.client.Error):
            return
        deadline = time.monotonic() + timeout
        while self.is_running_or_stopping():
            if time.monotonic() > deadline:
                raise StackError(f"supervisord did not stop within {timeout:.0f} s")
            time.sleep(0.2)

    def is_running_or_stopping(self) -> bool:
        try:
            self.rpc().getState()
        except xmlrpc.client.Fault:
            return True  # SHUTDOWN_STATE: still stopping the programs
        except (OSError, xmlrpc.client.Error):
            return False
        return True
