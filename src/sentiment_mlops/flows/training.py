"""The Prefect flow `sentiment-training`: each step of `steps.run_training` as a named task.

Works unchanged in Prefect's local mode and against a Prefect server (`PREFECT_API_URL`). Two
entries run it: `training_flow`, whose parameters are plain values so that a deployment can set
them from the UI or the API, and `requested_training`, which `sentiment train` calls in-process
with the one request it built. A user error (bad data or params, an unreachable tracking server)
ends the run Failed with its one-line message and no traceback; a bug keeps Prefect's full
report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from sentiment_mlops.core.data import DataUnavailableError
from sentiment_mlops.flows.entry import entry_flow
from sentiment_mlops.flows.inputs import training_request
from sentiment_mlops.flows.steps import StepRunner, run_training
from sentiment_mlops.flows.types import TrainingRequest, TrainingResult
from sentiment_mlops.settings import Settings, get_settings

FLOW_NAME = "sentiment-training"

P = ParamSpec("P")
T = TypeVar("T")


def _read_may_pass(_task: Task[..., Any], _task_run: TaskRun, state: State[Any]) -> bool:
    """Retry reading only when the system failed to read; bad data stays bad."""
    return isinstance(state.data, DataUnavailableError)


def task_runner(settings: Settings) -> StepRunner:
    """A `steps.StepRunner` that runs each step as a Prefect task named after it.

    Caching is off: inputs are data frames and fitted models, which are not worth hashing.
    Reading data may hit a network file system or an object store: worth a retry, after
    `settings.data_read_retry_delay` seconds.
    """

    def run_as_task(name: str, step: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        if name == "load-data":
            as_task = task(
                name=name,
                cache_policy=NO_CACHE,
                retries=2,
                retry_delay_seconds=settings.data_read_retry_delay,
                retry_condition_fn=_read_may_pass,
            )
        else:
            as_task = task(name=name, cache_policy=NO_CACHE)
        return as_task(step)(*args, **kwargs)

    return run_as_task


@entry_flow(FLOW_NAME)
def training_flow(
    data_path: Path | None = None,
    params_path: Path | None = None,
    champion: bool = False,
    register_model: bool = True,
    challenger: bool = False,
    experiment: str | None = None,
    model_name: str | None = None,
    metrics_file: Path | None = None,
    plots_dir: Path | None = None,
) -> TrainingResult:
    """Train, evaluate, log, register and optionally promote a sentiment model.

    The deployment's entry: each parameter a JSON value (paths as strings), unset ones from the
    settings. `challenger=true` nominates the version as challenger instead of comparing it
    with the champion, whatever `champion` says (the deployment's default is `champion=true`).
    """
    settings = get_settings()
    request = training_request(
        settings,
        data_path=data_path,
        params_path=params_path,
        experiment=experiment,
        model_name=model_name,
        champion=champion and not challenger,
        challenger=challenger,
        register=register_model,
        metrics_file=metrics_file,
        plots_dir=plots_dir,
    )
    return run_training(request, settings, run_step=task_runner(settings))


@entry_flow(FLOW_NAME)
def requested_training(request: TrainingRequest) -> TrainingResult:
    """The same flow for a caller in this process that has already built its request."""
    settings = get_settings()
    return run_training(request, settings, run_step=task_runner(settings))
