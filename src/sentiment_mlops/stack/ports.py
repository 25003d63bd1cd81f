"""The ports of the stack: all checked before anything starts, and a busy one named with the
setting that moves it (SeaweedFS alone binds ten ports, which all move with STACK_S3_PORT)."""

from __future__ import annotations

import socket

from sentiment_mlops.errors import UserError
from sentiment_mlops.settings import StackSettings
from sentiment_mlops.stack import services

# The S3 ports tried for a suggestion: every SeaweedFS port then stays below 65536.
_S3_PORT_CANDIDATES = range(10_333, 40_001, 1000)


class PortsInUseError(UserError):
    """A port the stack needs is taken: the user must stop its owner or move the stack."""


def check_free(settings: StackSettings) -> None:
    """Raise `PortsInUseError` (one line) when any port of the stack is taken."""
    busy = [item for item in services.all_ports(settings) if not port_is_free(item.port)]
    if busy:
        raise PortsInUseError(_message(busy, settings))


def _message(busy: list[services.Listener], settings: StackSettings) -> str:
    """Each busy port and what would listen there, then the setting that moves it."""
    listed = ", ".join(f"{item.port} ({item.what})" for item in busy)
    hints = []
    for setting in dict.fromkeys(item.setting for item in busy):
        if setting != services.S3_PORT_SETTING:
            hints.append(f"set {setting}")
            continue
        free = free_s3_port(settings)
        example = f", e.g. {setting}={free} (all of its ports are free)" if free else ""
        hints.append(f"SeaweedFS's ports all move with {setting}{example}")
    return f"ports in use: {listed}; stop what uses them, or {'; '.join(hints)}"


def free_s3_port(settings: StackSettings) -> int | None:
    """An S3 port whose SeaweedFS ports are all free and clear of the stack's other ports."""
    others = {settings.mlflow_port, settings.prefect_port, settings.api_port}
    others.add(settings.prometheus_port)
    for candidate in _S3_PORT_CANDIDATES:
        weed = set(services.weed_listen_ports(candidate).values())
        if not weed & others and all(port_is_free(port) for port in weed):
            return candidate
    return None


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
