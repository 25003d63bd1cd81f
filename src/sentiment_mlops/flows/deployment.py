"""Prefect deployments of training, the hourly drift check, scoring and tuning, on a process worker.

`sentiment stack up` runs this module once the Prefect server is up; it can also be run by hand
against any Prefect server:

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m sentiment_mlops.flows.deployment
    prefect worker start --pool sentiment-process
    prefect deployment run 'sentiment-training/local' -p champion=true

The flow is loaded from the installed package (a module entrypoint), and each run works in the
project folder, so relative paths (data/, params.yaml) mean what they mean for `sentiment train`.
The parameters of `training_flow` are the deployment's parameters (data path, champion, ...),
settable per run from the UI or the API. `sentiment-monitoring/local` runs the drift check every
hour with `retrain_on_drift=true`: on drift it starts a run of
`sentiment-training/local` (`flows.retrain`). `sentiment-scoring/local` and
`sentiment-tuning/local` run on demand with the options of `sentiment score` and `sentiment tune`:

    prefect deployment run 'sentiment-scoring/local' -p input=/data/reviews.csv \
        -p output=/data/scored.parquet
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sentiment_mlops.errors import SentimentError, ServiceUnavailableError
from sentiment_mlops.flows.prefect_objects import create_if_missing
from sentiment_mlops.flows.promotion_lock import LIMIT_NAME, ensure_limit
from sentiment_mlops.settings import DEPLOYMENT_NAME, WORK_POOL

ENTRYPOINT = "sentiment_mlops.flows.training.training_flow"
MONITORING_ENTRYPOINT = "sentiment_mlops.flows.monitoring.monitoring_flow"
MONITORING_INTERVAL = timedelta(hours=1)
# A scheduled check acts on what it finds: drift or low live accuracy starts a retraining.
MONITORING_PARAMETERS: dict[str, Any] = {"retrain_on_drift": True}
# Run on demand (no schedule), with the CLI's options as parameters.
SCORING_ENTRYPOINT = "sentiment_mlops.flows.scoring.scoring_flow"
TUNING_ENTRYPOINT = "sentiment_mlops.flows.tuning.tuning_flow"
# A run started from the UI is the seed's `train.py --champion`: promote if better.
DEFAULT_PARAMETERS: dict[str, Any] = {"champion": True}


def ensure_work_pool(name: str) -> bool:
    """Create a process work pool named `name` if missing; True when it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    with get_client(sync_client=True) as client:
        return create_if_missing(
            lambda: client.read_work_pool(name),
            lambda: client.create_work_pool(WorkPoolCreate(name=name, type="process")),
        )


def load_training_flow(project_dir: Path, entrypoint: str = ENTRYPOINT) -> Any:
    """A flow bound to its source: the installed package, run in `project_dir`."""
    from prefect import flow

    return flow.from_source(source=str(project_dir.resolve()), entrypoint=entrypoint)


def deploy_training(
    project_dir: Path,
    work_pool: str = WORK_POOL,
    name: str = DEPLOYMENT_NAME,
    parameters: dict[str, Any] | None = None,
    training: Any = None,
) -> str:
    """Create or update the deployment `sentiment-training/<name>`; returns its id."""
    training = training or load_training_flow(project_dir)
    deployment_id = training.deploy(
        name=name,
        work_pool_name=work_pool,
        parameters=DEFAULT_PARAMETERS if parameters is None else parameters,
        description="Train, log to MLflow, register, and promote if better than the champion.",
        tags=["sentiment", "training"],
        print_next_steps=False,
        ignore_warnings=True,
    )
    return str(deployment_id)


def deploy_monitoring(
    project_dir: Path, work_pool: str = WORK_POOL, name: str = DEPLOYMENT_NAME
) -> str:
    """Create or update `sentiment-monitoring/<name>`, scheduled every hour; returns its id."""
    return deploy_on_demand(
        project_dir,
        MONITORING_ENTRYPOINT,
        "Compare served texts with the champion's data; retrain on drift.",
        work_pool,
        name,
        parameters=MONITORING_PARAMETERS,
        interval=MONITORING_INTERVAL,
        tags=["sentiment", "monitoring"],
    )


def deploy_on_demand(
    project_dir: Path,
    entrypoint: str,
    description: str,
    work_pool: str = WORK_POOL,
    name: str = DEPLOYMENT_NAME,
    *,
    parameters: dict[str, Any] | None = None,
    interval: timedelta | None = None,
    tags: list[str] | None = None,
) -> str:
    """Create or update a deployment of the flow at `entrypoint`; returns its id.

    Without `interval` it runs only when asked: batch scoring and tuning take their own
    parameters per run (the scoring flow's input and output have no default).
    """
    deployed = load_training_flow(project_dir, entrypoint)
    deployment_id = deployed.deploy(
        name=name,
        work_pool_name=work_pool,
        parameters=parameters,
        interval=interval,
        description=description,
        tags=tags or ["sentiment"],
        print_next_steps=False,
        ignore_warnings=True,
    )
    return str(deployment_id)


def wait_for_api(timeout: float) -> None:
    """Block until the Prefect API (PREFECT_API_URL) answers its health check."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    url = f"{PREFECT_API_URL.value()}/health"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=3).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ServiceUnavailableError(
                f"the Prefect API at {url} did not answer within {timeout:.0f} s"
            )
        time.sleep(0.25)


def main(argv: list[str] | None = None) -> None:
    """Create the work pool, the promotion limit and the deployment (all idempotent)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-pool", default=WORK_POOL)
    parser.add_argument("--name", default=DEPLOYMENT_NAME)
    parser.add_argument("--project-dir", type=Path, default=Path.cwd())
    parser.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for the Prefect API to answer"
    )
    args = parser.parse_args(argv)

    from sentiment_mlops.flows.training import FLOW_NAME

    # Loading the flow imports the training code: done before waiting for a starting server.
    training = load_training_flow(args.project_dir)
    if args.wait:
        try:
            wait_for_api(args.wait)
        except SentimentError as error:  # the script ends the process, not the library
            raise SystemExit(str(error)) from None
    # A script run by the stack: what it did goes to stdout, which the stack logs (T201 noqa).
    if ensure_work_pool(args.work_pool):
        print(f"created work pool {args.work_pool!r} (type process)")  # noqa: T201
    if ensure_limit():
        print(f"created global concurrency limit {LIMIT_NAME!r} (limit 1)")  # noqa: T201
    deployment_id = deploy_training(args.project_dir, args.work_pool, args.name, training=training)
    print(f"deployment {FLOW_NAME}/{args.name} ({deployment_id}) on pool {args.work_pool}")  # noqa: T201
    deployment_id = deploy_monitoring(args.project_dir, args.work_pool, args.name)
    print(f"deployment sentiment-monitoring/{args.name} ({deployment_id}), hourly")  # noqa: T201
    for flow_name, entrypoint, description in (
        ("sentiment-scoring", SCORING_ENTRYPOINT, "Score a CSV/Parquet file of reviews."),
        ("sentiment-tuning", TUNING_ENTRYPOINT, "Search the params by cross-validation."),
    ):
        deployment_id = deploy_on_demand(
            args.project_dir, entrypoint, description, args.work_pool, args.name
        )
        print(f"deployment {flow_name}/{args.name} ({deployment_id}), on demand")  # noqa: T201


if __name__ == "__main__":
    main()
