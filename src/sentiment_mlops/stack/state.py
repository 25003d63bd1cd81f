"""The state file: what `up` started, so that `down`, `status` and `restart` find it later.

`<stack dir>/state.json` (mode 0600: it holds the services' environment, secrets included)
records each service's spec, PID, start time and log, with the URLs and start timings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentiment_mlops.stack import process
from sentiment_mlops.stack.secrets import write_private
from sentiment_mlops.stack.services import ServiceSpec


@dataclass
class ServiceState:
    """One started service: how it was started, which process it is, where it logs."""

    spec: ServiceSpec
    record: process.ProcessRecord
    log: str
    ready_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.as_dict(),
            "pid": self.record.pid,
            "create_time": self.record.create_time,
            "log": self.log,
            "ready_seconds": self.ready_seconds,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ServiceState:
        record = process.ProcessRecord(values["pid"], values["create_time"])
        spec = ServiceSpec.from_dict(values["spec"])
        return cls(spec, record, values["log"], values.get("ready_seconds"))


@dataclass
class StackState:
    """Everything the state file holds."""

    services: dict[str, ServiceState] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)


def read_state(path: Path) -> StackState:
    """The recorded state; empty when no stack was started (or it was stopped)."""
    if not path.exists():
        return StackState()
    values = json.loads(path.read_text())
    services = {name: ServiceState.from_dict(item) for name, item in values["services"].items()}
    return StackState(services, values.get("timings", {}), values.get("urls", {}))


def write_state(path: Path, state: StackState) -> None:
    """Write the state file and a `<name>.pid` file per service beside it."""
    values = {
        "urls": state.urls,
        "timings": state.timings,
        "services": {name: item.as_dict() for name, item in state.services.items()},
    }
    write_private(path, json.dumps(values, indent=2) + "\n")
    for name, item in state.services.items():
        (path.parent / f"{name}.pid").write_text(f"{item.record.pid}\n")
