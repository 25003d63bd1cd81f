"""The order of things: provisioning and health waits between the programs supervisord runs.

`up`: the PostgreSQL databases; supervisord; the S3, MLflow and Prefect servers side by side
(each takes seconds to start) with the deployment command, which waits for Prefect itself; the
S3 buckets once S3 answers; the API (which registers its webhook) once MLflow answers; the
worker once the deployment is made; last Prometheus (when installed), which scrapes the API,
with its config written then. supervisord keeps them running (a crashed one is restarted);
`down`, `status` and `restart` ask it what runs. Should supervisord itself be killed, `status`
shows the services left running without it and `down` stops them (`reaper.find_orphans`).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from sentiment_mlops.settings import StackSettings
from sentiment_mlops.stack import (
    StackError,
    haproxy,
    ports,
    prometheus,
    provision,
    reaper,
    replicas,
    services,
)
from sentiment_mlops.stack.health import describe_readiness, is_healthy, poll
from sentiment_mlops.stack.secrets import StackSecrets, load_or_create_secrets, write_private
from sentiment_mlops.stack.services import ServiceSpec
from sentiment_mlops.stack.supervisord import REAPER, Supervisord

Report = Callable[[str], None]
_ALIVE = {"STARTING", "RUNNING"}
GONE = "GONE"  # the supervisord column of a service whose supervisord was killed


class Stack:
    """The local stack of one stack folder."""

    def __init__(
        self,
        settings: StackSettings,
        report: Report = print,
        webhook_secret: SecretStr | None = None,
    ) -> None:
        self.settings = settings
        self.webhook_secret = webhook_secret  # WEBHOOK_SECRET, when the user set one
        self.report = report
        self.supervisord = Supervisord(settings)
        self.timings: dict[str, float] = {}

    @property
    def services_file(self) -> Path:
        """What `status` and `restart` check: each service's health checks and URL as `up` made
        them (another shell may not have the settings `up` ran with). No command, no secret."""
        return self.settings.stack_dir / "services.json"

    def specs(self) -> dict[str, ServiceSpec]:
        """The services as `up` started them, with their checks (see `services_file`)."""
        if not self.services_file.exists():
            return {}
        saved = json.loads(self.services_file.read_text())
        return {item["name"]: ServiceSpec(command=[], env={}, **item) for item in saved}

    # --- up -------------------------------------------------------------------------------

    def up(self) -> None:
        """Start every service and wait until each is healthy; on failure stop what started."""
        if self.supervisord.is_running():
            raise StackError(
                f"a stack is already running from {self.settings.stack_dir} "
                "(`sentiment stack status`); stop it with `sentiment stack down`"
            )
        if self.orphans():
            raise StackError(
                f"the supervisord of the stack in {self.settings.stack_dir} is gone but its "
                "services still run (`sentiment stack status`); stop them with "
                "`sentiment stack down`"
            )
        # The user's own settings first: a busy port is named even where HAProxy is missing.
        ports.check_free(self.settings)
        if haproxy.binary() is None:
            raise StackError(f"no HAProxy (the load balancer): {haproxy.INSTALL_HINT}")
        self.settings.stack_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        stack_secrets = load_or_create_secrets(self.settings, self.webhook_secret)
        specs = services.all_services(self.settings, stack_secrets)
        started = time.monotonic()
        with self._timed("postgres"):
            created = provision.ensure_databases(
                self.settings,
                self.settings.mlflow_database,
                self.settings.prefect_database,
                self.settings.predictions_database,
            )
        if created:
            self.report(f"created PostgreSQL databases: {', '.join(created)}")
        try:
            self.launch(specs)
            self._start_all(stack_secrets, {spec.name: spec for spec in specs})
        except BaseException:
            self.report("stopping what was started")
            self.down()
            raise
        self.timings["total"] = round(time.monotonic() - started, 1)
        self._write_env_file(stack_secrets)

    def launch(self, specs: list[ServiceSpec]) -> None:
        """Write the supervisord config for `specs` and start supervisord (no program yet)."""
        for spec in specs:
            if spec.cwd:
                Path(spec.cwd).mkdir(parents=True, exist_ok=True)
        self.settings.logs.mkdir(parents=True, exist_ok=True)
        checks = [asdict(spec) for spec in specs]
        for check in checks:
            del check["command"], check["env"]
        self.services_file.write_text(json.dumps(checks, indent=2) + "\n")
        self.supervisord.write_config(self.settings, specs)
        self.supervisord.launch()
        self.report(f"supervisord started, config {self.supervisord.conf}")

    def _start_all(self, stack_secrets: StackSecrets, specs: dict[str, ServiceSpec]) -> None:
        for name in ("s3", "mlflow", "prefect", "deploy"):
            self.start(specs[name])
        self.wait_healthy(specs["s3"])
        with self._timed("buckets"):
            made = provision.ensure_buckets(self.settings, stack_secrets)
        if made:
            self.report(f"created S3 buckets: {', '.join(made)}")
        self.wait_healthy(specs["mlflow"])

        def start_worker() -> None:  # while the first API replica starts
            self.wait_healthy(specs["prefect"])
            self._wait_done(specs["deploy"])
            self.start(specs["worker"])

        replicas.start_api(self, specs, start_worker)
        self.wait_healthy(specs["worker"])
        self._start_prometheus(specs)

    def _start_prometheus(self, specs: dict[str, ServiceSpec]) -> None:
        """Write Prometheus's config, start it and wait (it is ready in a second or two);
        without its binary, say so and go on: it is optional."""
        if "prometheus" not in specs:
            self.report(
                f"Prometheus not started: no `prometheus` on PATH; {prometheus.INSTALL_HINT}"
            )
            return
        targets = [spec.port for spec in services.replicas_of(specs).values() if spec.port]
        prometheus.write_config(self.settings, targets)
        self.start(specs["prometheus"])
        self.wait_healthy(specs["prometheus"])

    def start(self, spec: ServiceSpec) -> None:
        pid = self.supervisord.start(spec.name)
        log = self.settings.logs.resolve() / f"{spec.name}.log"
        self.report(f"started {spec.name} (pid {pid}), log {log}")

    def wait_healthy(self, spec: ServiceSpec) -> float:
        """Wait until the service answers its health check; returns the seconds since its
        process started. Fails at once, with the end of its log, if the process exits."""
        first = self.supervisord.info(spec.name)

        def healthy() -> bool:
            info = self.supervisord.info(spec.name)
            if info["statename"] not in _ALIVE or info["pid"] != first["pid"]:
                raise StackError(
                    self._failure(spec, f"exited while starting ({info['statename']})")
                )
            return is_healthy(spec, since=info["start"])

        if not poll(healthy, self.settings.start_timeout):
            raise StackError(
                self._failure(spec, f"not healthy within {self.settings.start_timeout:.0f} s")
            )
        seconds = round(time.time() - first["start"], 1)
        self.timings[spec.name] = seconds
        self.report(f"{spec.name} healthy after {seconds:.1f} s")
        return seconds

    def _wait_done(self, spec: ServiceSpec) -> None:
        """Wait for a one-shot program to exit; anything but exit 0 fails `up`."""
        info: dict[str, Any] = {}

        def exited() -> bool:
            info.update(self.supervisord.info(spec.name))
            return info["statename"] not in _ALIVE

        poll(exited, self.settings.start_timeout + 120)
        self.timings["deployment"] = round(info["stop"] - info["start"], 1)
        if info["statename"] != "EXITED" or info["exitstatus"] != 0:
            raise StackError(
                self._failure(spec, f"failed ({info['statename']}, exit {info['exitstatus']})")
            )
        self.report(self.supervisord.tail(spec.name).strip().splitlines()[-1])

    def _failure(self, spec: ServiceSpec, what: str) -> str:
        log = self.settings.logs.resolve() / f"{spec.name}.log"
        tail = "\n".join(self.supervisord.tail(spec.name).splitlines()[-25:])
        return f"{spec.name} ({spec.label}) {what}; end of {log}:\n{tail}"

    @contextmanager
    def _timed(self, step: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.timings[step] = round(time.monotonic() - started, 1)

    # --- down, restart --------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop supervisord and every program it runs (or, if supervisord was killed, what its
        programs left running); returns the names that were running.

        supervisord stops clients first (worker and API), then the servers they call, then S3
        (the programs' priorities): a server stopped under a client may wait for that client's
        requests to time out before it exits.
        """
        self.env_file.unlink(missing_ok=True)
        if self.supervisord.is_running():
            running = [
                program["name"]
                for program in self.supervisord.programs()
                if program["statename"] in _ALIVE and program["name"] != REAPER
            ]
            self.supervisord.shutdown()
        else:  # killed, or never started: what it started may still run, holding the ports
            stopped = reaper.stop_orphans(self.orphans(), self.supervisord.conf)
            running = [name for name in stopped if name != REAPER]
        if not running:
            return []
        # Some SeaweedFS components put gRPC sockets in /tmp, named after their port.
        for port in services.weed_ports(self.settings.s3_port).values():
            for number in (port, port + services.WEED_GRPC_OFFSET):
                for stale in Path("/tmp").glob(f"seaweedfs-*-{number}.sock"):
                    stale.unlink(missing_ok=True)
        # The terminal may be gone (a closed window): reporting must not stop the cleanup.
        with contextlib.suppress(OSError):
            for name in running:
                self.report(f"stopped {name}")
        return running

    def restart(self, name: str) -> float:
        """Restart one service through supervisord and wait until it is healthy again. `api`
        restarts the API replicas one at a time behind HAProxy (which keeps running), and a
        replica is taken out of HAProxy while it restarts: no request is dropped."""
        specs = self.specs()
        if not self.supervisord.is_running():
            raise StackError("no stack is running here (see `sentiment stack up`)")
        if name not in specs or specs[name].oneshot:
            known = ", ".join(n for n, s in specs.items() if not s.oneshot)
            raise StackError(f"no service {name!r}; the services are {known}")
        if name == "api":
            return replicas.rolling_restart(self)
        if specs[name].port is not None:
            return replicas.restart_replica(self, specs[name])
        self.supervisord.stop(name)
        self.start(specs[name])
        return self.wait_healthy(specs[name])

    def orphans(self) -> list[reaper.Orphan]:
        """The processes of this stack's services that live on after its supervisord died."""
        return reaper.find_orphans(self.supervisord.socket)

    # --- status and following -------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """One row per service: supervisord's state, PID and uptime, and our health check."""
        if not self.supervisord.is_running():
            return self._unsupervised_status()
        specs = self.specs()
        balanced = replicas.balancer_states(self)
        rows = []
        for info in self.supervisord.programs():
            spec = specs.get(info["name"])
            if spec is None or spec.oneshot:
                continue
            alive = info["statename"] in _ALIVE
            healthy = alive and is_healthy(spec, since=info["start"])
            state = _state_text(spec, alive, healthy)
            if spec.name in balanced:  # a replica: and whether HAProxy sends it requests
                state += f"; HAProxy: {balanced[spec.name]}"
            rows.append(
                {
                    "name": spec.name,
                    "supervisor": info["statename"],
                    "pid": info["pid"] if alive else None,
                    "uptime": _uptime(info["now"] - info["start"]) if alive else "",
                    "healthy": healthy,
                    "state": state,
                    "url": spec.url,
                    "log": info["stdout_logfile"],
                }
            )
        return rows

    def _unsupervised_status(self) -> list[dict[str, Any]]:
        """A row per service still running after supervisord died (supervisord: GONE), with
        its main process and our health check; never healthy, as nothing restarts it."""
        specs = self.specs()
        leaders: dict[str, int] = {}
        for orphan in self.orphans():
            if orphan.leads or orphan.name not in leaders:
                leaders[orphan.name] = orphan.pid
        rows = []
        for name, pid in leaders.items():
            spec = specs.get(name)
            if spec is None or spec.oneshot:
                continue
            answers = is_healthy(spec, since=0.0)
            rows.append(
                {
                    "name": name,
                    "supervisor": GONE,
                    "pid": pid,
                    "uptime": "",
                    "healthy": False,
                    "state": _state_text(spec, True, answers),
                    "url": spec.url,
                    "log": str(self.settings.logs.resolve() / f"{name}.log"),
                }
            )
        return rows

    def follow(self, interval: float = 1.0) -> None:
        """Block until interrupted, reporting each change of a program's state or PID (a
        crash, and supervisord's restart of it)."""
        seen: dict[str, tuple[str, int]] = {}
        while True:
            for info in self.supervisord.programs():
                now = (info["statename"], info["pid"])
                before = seen.get(info["name"])
                if before is not None and before != now:
                    self.report(f"{info['name']}: {before[0]} -> {now[0]} (pid {now[1]})")
                seen[info["name"]] = now
            time.sleep(interval)

    # --- what people see ------------------------------------------------------------------

    def urls(self) -> dict[str, str]:
        return {
            "MLflow UI": self.settings.mlflow_url,
            "Prefect UI": self.settings.prefect_url,
            "API docs": f"{self.settings.api_url}/docs",
            "S3 endpoint": self.settings.s3_url,
        } | ({"Prometheus": prometheus.url(self.settings)} if "prometheus" in self.specs() else {})

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


def _uptime(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}"


def _state_text(spec: ServiceSpec, alive: bool, healthy: bool) -> str:
    """`stopped`, `running` (not answering), `healthy`, or what the readiness check says."""
    if not alive:
        return "stopped"
    if not healthy:
        return "running"
    return describe_readiness(spec.readiness_url) if spec.readiness_url else "healthy"
