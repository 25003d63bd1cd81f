"""The full stack as local processes, without Docker: `sentiment stack up|down|status|restart`.

It mirrors docker-compose.yml with processes on 127.0.0.1: SeaweedFS as the S3 server (the
compose stack's MinIO), the MLflow tracking server (PostgreSQL backend store, S3 artifacts), the
Prefect server (PostgreSQL) with a process work pool, a worker and a deployment of the training
flow, and the API. PostgreSQL is the machine's; the stack creates its databases. Its settings
are the `stack` section of the project's one `Settings` (`STACK_*` variables).

- `secrets`: credentials and keys generated once and kept in the stack folder.
- `ports`: every port checked free before anything starts.
- `provision`: PostgreSQL databases and S3 buckets.
- `services`: the command, environment and health check of each service.
- `supervisord`: supervisord's config, written from the services, and its XML-RPC client;
  supervisord runs the services and restarts a crashed one.
- `reaper`: kills what a crashed service left behind (supervisord's event listener), and the
  services that a killed supervisord left running (for `down`).
- `health`: whether a service answers (and the worker is ours).
- `lifecycle`: the order of things: up (provisioning and health waits), down, restart, status.
"""

from sentiment_mlops.errors import SentimentError


class StackError(SentimentError):
    """The stack cannot start or act (exit 1); the message says why and what to do."""

    exit_code = 1
