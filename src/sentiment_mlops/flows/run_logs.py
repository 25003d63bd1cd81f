"""What a training run tells Prefect: our domain lines, and user errors without tracebacks.

Prefect's run log (the UI, `prefect flow-run logs`) only receives records of its own run
loggers. A run started by a worker must explain itself there: rows loaded, metrics, the
registered version, the champion decision. So while the flow runs, the `sentiment_mlops`
loggers also write to Prefect's API handler.

Prefect's engine logs a failed task with `exc_info=True`. For an error the user can fix the
traceback is noise that buries the one line that matters; it is kept for bugs only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.logging.handlers import APILogHandler

from sentiment_mlops.errors import user_error_message

_OUR_LOGGER = "sentiment_mlops"
_PREFECT_RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


class UserErrorTracebackFilter(logging.Filter):
    """Drop the traceback from a record about a user error; keep it for any other error."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and user_error_message(error) is not None:
            record.exc_info = None
            record.exc_text = None
        return True


@contextmanager
def logs_to_prefect_run() -> Iterator[None]:
    """For the duration of a flow run: our log lines reach its run log, user errors come bare."""
    ours = logging.getLogger(_OUR_LOGGER)
    handler = APILogHandler()
    quiet = UserErrorTracebackFilter()
    run_loggers = [logging.getLogger(name) for name in _PREFECT_RUN_LOGGERS]
    level = ours.level
    if level == logging.NOTSET:
        # The domain lines are part of the run log: shown at Prefect's logging level.
        ours.setLevel(logging.getLogger("prefect").getEffectiveLevel())
    ours.addHandler(handler)
    for logger in run_loggers:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in run_loggers:
            logger.removeFilter(quiet)
        ours.removeHandler(handler)
        ours.setLevel(level)
