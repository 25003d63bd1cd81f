"""The full stack as local processes, without Docker: `sentiment stack up|down|status|restart`.

It mirrors docker-compose.yml with processes on 127.0.0.1: SeaweedFS as the S3 server (the
compose stack's MinIO), the MLflow tracking server (PostgreSQL backend store, S3 artifacts), the
Prefect server (PostgreSQL) with a process work pool, a worker and a deployment of the training
flow, and the API. PostgreSQL is the machine's; the stack creates its databases.

- `config`: `StackSettings`, the stack's own settings (ports, folders, the admin database URL).
- `secrets`: credentials and keys generated once and kept in the stack folder.
- `ports`: every port checked free before anything starts.
- `provision`: PostgreSQL databases and S3 buckets.
- `services`: the command, environment and health check of each service.
- `process`: starting a service as a child process and stopping it by PID.
- `health`: whether a service answers (and the worker is ours).
- `state`: the state file that `down`, `status` and `restart` read.
- `supervisor`: the order of things: up, down, restart, status, supervision.
"""
