"""The Prefect flow `sentiment-training`: each step of `steps.run_training` as a named task.

Works unchanged in Prefect's local mode and against a Prefect server (`PREFECT_API_URL`).
Parameters are plain values so that a deployment can set them from the UI or API. A user error
(bad data or params, an unreachable tracking server) ends the run Failed with its one-line
message and no traceback; a bug keeps Prefect's full report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import Failed, State

from sentiment_mlops.core.data import DataUnavailableError
from sentiment_mlops.errors import user_error_message
from sentiment_mlops.flows import steps
from sentiment_mlops.flows.run_logs import logs_to_prefect_run
from sentiment_mlops.settings import get_settings

FLOW_NAME = "sentiment-training"


def _read_may_pass(task: Any, task_run: TaskRun, state: State) -> bool:
    """Retry reading only when the system failed to read; bad data stays bad."""
    return isinstance(state.data, DataUnavailableError)


# Reading data may hit a network file system or an object store: worth a retry.
_TASK_OPTIONS: dict[str, dict[str, Any]] = {
    "load-data": {"retries": 2, "retry_delay_seconds": 2, "retry_condition_fn": _read_may_pass},
}


def run_as_task(name: str, function: Callable[..., Any], *args: Any) -> Any:
    """Run one step as a Prefect task named `name`.

    Caching is off: inputs are data frames and fitted models, which are not worth hashing.
    """
    options = _TASK_OPTIONS.get(name, {})
    return task(function, name=name, cache_policy=NO_CACHE, **options)(*args)


@flow(name=FLOW_NAME, validate_parameters=True)
def training_flow(
    data_path: str | None = None,
    params_path: str | None = None,
    champion: bool = False,
    register_model: bool = True,
    experiment: str | None = None,
    model_name: str | None = None,
    metrics_file: str | None = None,
    plots_dir: str | None = None,
) -> dict[str, Any]:
    """Train, evaluate, log, register and optionally promote a sentiment model."""
    from pathlib import Path

    settings = get_settings()
    with logs_to_prefect_run():
        try:
            request = steps.default_request(
                settings,
                data_path=Path(data_path) if data_path else None,
                params_path=Path(params_path) if params_path else None,
                experiment=experiment,
                model_name=model_name,
                champion=champion,
                register=register_model,
                metrics_file=Path(metrics_file) if metrics_file else None,
                plots_dir=Path(plots_dir) if plots_dir else None,
            )
            result = steps.run_training(request, settings, run_step=run_as_task)
        except Exception as error:
            message = user_error_message(error)
            if message is None:
                raise
            # The run ends Failed with the user's one line; calling the flow raises `error`.
            return Failed(message=message, data=error)  # type: ignore[return-value]
    return result.as_dict()
