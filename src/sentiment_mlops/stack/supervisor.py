"""Start the stack in order, record what runs in the state file, stop it by PID.

Order: PostgreSQL databases; the S3, MLflow and Prefect servers together (each takes seconds
to start, so they start side by side) with the deployment command, which waits for Prefect;
the S3 buckets; the API; the worker. The state file (see `state`) lets `down`, `status` and
`restart` work from any later command.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentiment_mlops.stack import ports, process, provision, services
from sentiment_mlops.stack.config import StackSettings
from sentiment_mlops.stack.health import describe_readiness, is_healthy
from sentiment_mlops.stack.secrets import StackSecrets, load_or_create_secrets, write_private
from sentiment_mlops.stack.services import ServiceSpec
from sentiment_mlops.stack.state import ServiceState, StackState, read_state, write_state

Report = Callable[[str], None]
_DEPLOY_MARGIN_S = 120.0
_STOP_ORDER = (("worker", "api"), ("prefect", "mlflow"), ("s3",))


class StackError(RuntimeError):
    """The stack cannot start or act; the message says why and what to do."""


@dataclass
class Deploy:
    """The running one-shot deployment command."""

    popen: subprocess.Popen[bytes]
    record: process.ProcessRecord
    log: Path
    started: float


class Stack:
    """The local stack of one stack folder."""

    def __init__(self, settings: StackSettings, report: Report = print) -> None:
        self.settings = settings
        self.report = report
        self.services: dict[str, ServiceState] = {}
        self.timings: dict[str, float] = {}

    # --- state ----------------------------------------------------------------------------

    def load_state(self) -> dict[str, ServiceState]:
        return read_state(self.settings.state_file).services

    def save_state(self) -> None:
        state = StackState(self.services, self.timings, self.urls())
        write_state(self.settings.state_file, state)

    def running(self) -> dict[str, ServiceState]:
        """Services of the state file whose process is still alive."""
        return {name: s for name, s in self.load_state().items() if s.record.is_alive()}

    # --- up -------------------------------------------------------------------------------

    def up(self) -> None:
        """Start every service and wait until each is healthy; on failure stop what started."""
        if self.running():
            raise StackError(
                f"a stack is already running from {self.settings.stack_dir} "
                "(`sentiment stack status`); stop it with `sentiment stack down`"
            )
        ports.check_free(self.settings)
        self.settings.stack_dir.mkdir(parents=True, exist_ok=True)
        stack_secrets = load_or_create_secrets(self.settings)
        started = time.monotonic()
        try:
            self._start_all(stack_secrets)
        except BaseException:
            self.report("stopping what was started")
            self.down()
            raise
        self.timings["total"] = round(time.monotonic() - started, 1)
        self.save_state()
        self._write_env_file(stack_secrets)

    def _start_all(self, stack_secrets: StackSecrets) -> None:
        settings = self.settings
        with self._timed("postgres"):
            created = provision.ensure_databases(
                settings, settings.mlflow_database, settings.prefect_database
            )
        if created:
            self.report(f"created PostgreSQL databases: {', '.join(created)}")
        self._start(services.s3_service(settings, stack_secrets))
        self._start(services.mlflow_service(settings, stack_secrets))
        self._start(services.prefect_service(settings))
        deploy = self._start_deploy()
        self._wait("s3")
        with self._timed("buckets"):
            made = provision.ensure_buckets(settings, stack_secrets)
        if made:
            self.report(f"created S3 buckets: {', '.join(made)}")
        self._wait("mlflow")
        self._start(services.api_service(settings, stack_secrets))
        self._wait("prefect")
        self._finish_deploy(deploy)
        self._start(services.worker_service(settings))
        self._wait("api")
        self._wait("worker")

    def _start(self, spec: ServiceSpec) -> None:
        log = self.settings.logs.resolve() / f"{spec.name}.log"
        cwd = Path(spec.cwd) if spec.cwd else None
        if cwd is not None:
            cwd.mkdir(parents=True, exist_ok=True)
        _, record = process.spawn(spec.command, spec.env, log, cwd=cwd)
        self.services[spec.name] = ServiceState(spec, record, str(log))
        self.save_state()
        self.report(f"started {spec.name} (pid {record.pid}), log {log}")

    def _wait(self, name: str) -> None:
        state = self.services[name]
        seconds = process.wait_ready(
            state.record,
            lambda: is_healthy(state.spec, since=state.record.create_time),
            self.settings.start_timeout,
            f"{name} ({state.spec.label})",
            Path(state.log),
        )
        state.ready_seconds = round(seconds, 1)
        self.timings[name] = state.ready_seconds
        self.save_state()
        self.report(f"{name} healthy after {seconds:.1f} s")

    def _start_deploy(self) -> Deploy:
        """Start the one-shot deployment command; it waits for the Prefect API itself."""
        command, env = services.deploy_command(self.settings)
        log = self.settings.logs.resolve() / "deploy.log"
        popen, record = process.spawn(command, env, log, cwd=self.settings.project_dir)
        return Deploy(popen, record, log, time.monotonic())

    def _finish_deploy(self, deploy: Deploy) -> None:
        # The command waits up to start_timeout for the API, then deploys.
        deadline = deploy.started + self.settings.start_timeout + _DEPLOY_MARGIN_S
        try:
            code = deploy.popen.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.stop([deploy.record])
            code = None
        self.timings["deployment"] = round(time.monotonic() - deploy.started, 1)
        if code != 0:
            raise StackError(
                f"deploying the training flow failed; end of {deploy.log}:\n"
                f"{process.tail(deploy.log)}"
            )
        self.report(process.tail(deploy.log, lines=1))

    @contextmanager
    def _timed(self, step: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.timings[step] = round(time.monotonic() - started, 1)

    # --- down, restart --------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop every recorded service; returns the names stopped.

        Clients first (worker and API), then the servers they call, then S3: a server stopped
        under a client may wait for that client's requests to time out before it exits.
        """
        recorded = self.load_state() | self.services
        stopped = []
        for tier in _stop_tiers(list(recorded)):
            flags = process.stop([recorded[name].record for name in tier])
            stopped += [name for name, flag in zip(tier, flags, strict=True) if flag]
        self._cleanup_files(recorded)
        self.services = {}
        # The terminal may be gone (a closed window): reporting must not stop the cleanup.
        with contextlib.suppress(OSError):
            for name in stopped:
                self.report(f"stopped {name} (pid {recorded[name].record.pid})")
        return stopped

    def restart(self, name: str) -> float:
        """Stop one service and start it again with the command it was started with."""
        recorded = read_state(self.settings.state_file)
        self.services, self.timings = recorded.services, recorded.timings
        if name not in self.services:
            raise StackError(f"no service {name!r} in {self.settings.state_file}")
        spec = self.services[name].spec
        process.stop([self.services[name].record])
        self._start(spec)
        self._wait(name)
        return self.services[name].ready_seconds or 0.0

    def _cleanup_files(self, recorded: dict[str, ServiceState]) -> None:
        for name in recorded:
            (self.settings.stack_dir / f"{name}.pid").unlink(missing_ok=True)
        self.settings.state_file.unlink(missing_ok=True)
        self.env_file.unlink(missing_ok=True)
        # Some SeaweedFS components put gRPC sockets in /tmp, named after their port.
        for port in services.weed_ports(self.settings.s3_port).values():
            for number in (port, port + services.WEED_GRPC_OFFSET):
                for stale in Path("/tmp").glob(f"seaweedfs-*-{number}.sock"):
                    stale.unlink(missing_ok=True)

    # --- status and supervision ----------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """One row per recorded service: PID, running, healthy, URL, log."""
        rows = []
        for name, state in self.load_state().items():
            alive = state.record.is_alive()
            healthy = alive and is_healthy(state.spec, state.record.create_time)
            rows.append(
                {
                    "name": name,
                    "label": state.spec.label,
                    "pid": state.record.pid,
                    "running": alive,
                    "healthy": healthy,
                    "state": _state_text(state.spec, alive, healthy),
                    "url": state.spec.url,
                    "log": state.log,
                }
            )
        return rows

    def supervise(self, interval: float = 1.0) -> None:
        """Block until interrupted, reporting once each service that exits on its own.

        Reads the state file on every round, so a service restarted by `sentiment stack
        restart` in another terminal counts as running.
        """
        reported: set[tuple[str, int]] = set()
        while True:
            for name, state in self.load_state().items():
                key = (name, state.record.pid)
                if key not in reported and not state.record.is_alive():
                    reported.add(key)
                    self.report(
                        f"{name} exited; end of {state.log}:\n{process.tail(Path(state.log))}"
                    )
            time.sleep(interval)

    # --- what people see ------------------------------------------------------------------

    def urls(self) -> dict[str, str]:
        return {
            "MLflow UI": self.settings.mlflow_url,
            "Prefect UI": self.settings.prefect_url,
            "API docs": f"{self.settings.api_url}/docs",
            "S3 endpoint": self.settings.s3_url,
        }

    def _write_env_file(self, stack_secrets: StackSecrets) -> None:
        """`source .stack/env` points the CLI, DVC and boto3 of a shell at this stack."""
        values = {
            "MLFLOW_TRACKING_URI": self.settings.mlflow_url,
            "PREFECT_API_URL": self.settings.prefect_api_url,
        } | services.s3_client_env(self.settings, stack_secrets)
        lines = ["# source this file to use the local stack from a shell"]
        lines += [f"export {key}={value}" for key, value in values.items()]
        write_private(self.env_file, "\n".join(lines) + "\n")

    @property
    def env_file(self) -> Path:
        return self.settings.stack_dir / "env"


def _state_text(spec: ServiceSpec, alive: bool, healthy: bool) -> str:
    """`stopped`, `running` (not answering), `healthy`, or what the readiness check says."""
    if not alive:
        return "stopped"
    if not healthy:
        return "running"
    return describe_readiness(spec.readiness_url) if spec.readiness_url else "healthy"


def _stop_tiers(names: list[str]) -> list[list[str]]:
    """`names` in stopping order, grouped into tiers stopped together (unknown names first)."""
    known = [name for tier in _STOP_ORDER for name in tier]
    tiers = [[name for name in names if name not in known]]
    tiers += [[name for name in names if name in tier] for tier in _STOP_ORDER]
    return [tier for tier in tiers if tier]
