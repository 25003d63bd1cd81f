"""The environment that selects a test's MLflow store, and putting MLflow's and Prefect's
variables back as they were after an entry point configured its process through them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.paths import DEMO_DATA, PARAMS_FILE

# The variables through which an entry point configures MLflow and Prefect in its process.
TOOL_PREFIXES = ("MLFLOW_", "PREFECT_")


@contextmanager
def tool_environment_restored() -> Iterator[None]:
    """The MLFLOW_* and PREFECT_* variables as they were before the block, whatever it set."""
    saved = {key: value for key, value in os.environ.items() if key.startswith(TOOL_PREFIXES)}
    try:
        yield
    finally:
        for key in [key for key in os.environ if key.startswith(TOOL_PREFIXES)]:
            if key not in saved:
                del os.environ[key]
        os.environ.update(saved)


def store_variables(folder: Path) -> dict[str, str]:
    """The variables that select a SQLite MLflow store (and Prefect's home) in `folder`."""
    return {
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "ARTIFACT_LOCATION": str(folder / "mlartifacts"),
        "PREFECT_HOME": str(folder / "prefect"),
        "DATA_PATH": str(folder / "no-prepared-data.csv"),
        "DEMO_DATA_PATH": str(DEMO_DATA),
        "PARAMS_PATH": str(PARAMS_FILE),
    }
