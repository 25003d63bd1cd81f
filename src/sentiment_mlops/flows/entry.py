"""`entry_flow`: what makes a function one of our Prefect flows, decided once for all of them.

A flow is an entry point: a worker runs it in a new process, so the flow configures that process
from the settings (`process.configure_process`). While it runs, our log lines reach its run log
(`run_logs.logs_to_prefect_run`). A user error (bad data or params, an unreachable store, an
existing output) ends the run Failed with its one-line message and no traceback; a bug keeps
Prefect's full report. Parameters are validated against the function's annotations.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from prefect import Flow, flow
from prefect.states import Failed

from sentiment_mlops.errors import USER_ERRORS
from sentiment_mlops.flows.run_logs import logs_to_prefect_run
from sentiment_mlops.process import configure_process
from sentiment_mlops.settings import get_settings

P = ParamSpec("P")
R = TypeVar("R")


def entry_flow(name: str) -> Callable[[Callable[P, R]], Flow[P, R]]:
    """Make `function` the Prefect flow `name`, run as an entry point (see the module)."""

    def decorate(function: Callable[P, R]) -> Flow[P, R]:
        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            configure_process(get_settings())
            with logs_to_prefect_run():
                try:
                    return function(*args, **kwargs)
                except USER_ERRORS as error:
                    # Prefect makes a returned state the run's final state, and calling the
                    # flow then raises `error`; the flow's type only knows its return value.
                    return Failed(message=str(error), data=error)  # type: ignore[return-value]

        # Prefect reads the parameters from the signature and resolves string annotations in
        # the function's module; `run` lives here, so it gets them resolved already.
        run.__signature__ = inspect.signature(function, eval_str=True)  # type: ignore[attr-defined]
        run.__annotations__ = typing.get_type_hints(function)
        return flow(name=name, validate_parameters=True)(run)

    return decorate
