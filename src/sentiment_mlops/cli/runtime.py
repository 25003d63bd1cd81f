"""What the command modules share, so that none imports another (nor `main`, which builds the app).

`sentiment train`, `monitor` and `tune` run a Prefect flow in this process. Each configures
logging once (`configure_logging`), lets SIGTERM unwind like Ctrl-C (`exit_on_sigterm`) and,
when no PREFECT_API_URL is set, starts Prefect's temporary local server before Prefect is
imported (`start_local_prefect`). Options that several commands take are defined here once, as is
the registry commands' client.
"""

from __future__ import annotations

import atexit
import logging
import signal
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sentiment_mlops.process import use_local_prefect
from sentiment_mlops.redaction import install_log_redaction, redactor_for
from sentiment_mlops.settings import Settings

if TYPE_CHECKING:
    from sentiment_mlops.flows.local_prefect import LocalPrefectServer


class _RunNameFormatter(logging.Formatter):
    """Prefix Prefect's log lines with the task or flow run they come from."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        run = getattr(record, "task_run_name", None) or getattr(record, "flow_run_name", None)
        return f"{run} | {message}" if run else message


def configure_logging(settings: Settings) -> None:
    """Log lines through rich at LOG_LEVEL, secrets redacted, known library noise quieted."""
    from rich.logging import RichHandler

    handler = RichHandler(show_path=False, rich_tracebacks=False)
    handler.setFormatter(_RunNameFormatter("%(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), datefmt="%H:%M:%S", handlers=[handler])
    install_log_redaction(redactor_for(settings))  # MLflow's lines repeat the tracking URI
    # "Waiting up to 300 seconds for model version..." from MLflow's registry adds nothing.
    noisy = ("alembic", "mlflow.store.db.utils", "mlflow.store.model_registry", "mlflow.utils")
    for name in (*noisy, "httpx", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Known and accepted: models are pickled (skops is 100x slower for a TF-IDF vocabulary),
    # and pip's version is unknown inside a uv environment.
    for known in ("mlflow.sklearn", "mlflow.utils.environment"):
        logging.getLogger(known).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\..*")
    warnings.filterwarnings("ignore", category=FutureWarning)


def exit_on_sigterm() -> None:
    """Let SIGTERM unwind like Ctrl-C, so the MLflow run is closed and exit handlers run."""

    def exit_now(signum: int, _frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the process at once
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_now)


def start_local_prefect(settings: Settings) -> LocalPrefectServer | None:
    """Start Prefect's temporary server when no PREFECT_API_URL is set (None when one is).

    The caller imports its flow while the server starts, then calls `wait_ready()` on it.
    """
    if settings.prefect_api_url:
        return None
    from sentiment_mlops.flows.local_prefect import LocalPrefectServer

    server = LocalPrefectServer(settings.prefect_home)
    server.start()
    # Registered before Prefect is imported, so it runs after Prefect's own exit handlers have
    # flushed the last logs and events to the server (atexit runs last-registered first).
    atexit.register(server.stop)
    use_local_prefect(server.api_url, server.home)  # before Prefect is imported
    return server


DataPathOption = Annotated[
    Path | None, typer.Option(help="CSV/Parquet of reviews (default: DATA_PATH)")
]
ExperimentOption = Annotated[
    str | None, typer.Option(help="MLflow experiment (default: MLFLOW_EXPERIMENT_NAME)")
]
ModelNameOption = Annotated[
    str | None, typer.Option("--model-name", help="Registered model name (default: MODEL_NAME)")
]


def registry_client(settings: Settings) -> Any:
    """The MLflow client of the settings' stores (the CLI's callback configured the process)."""
    from sentiment_mlops import registry

    return registry.make_client(settings)
