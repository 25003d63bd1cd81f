"""A training request, with the data set and params file to read when the user names none.

Kept free of pandas and scikit-learn so the CLI can check its inputs in a few milliseconds,
before it starts anything (a local Prefect server, a `.prefect/` folder) for a run that would
fail.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sentiment_mlops.flows.types import TrainingRequest
from sentiment_mlops.settings import Settings

logger = logging.getLogger(__name__)

# A copy of the project's params.yaml shipped in the package (a test keeps them identical), so
# `sentiment train` also works outside the project folder. params.yaml is the one users edit.
DEFAULT_PARAMS = Path(__file__).resolve().parents[1] / "default_params.yaml"


def choose_params_path(settings: Settings) -> Path:
    """PARAMS_PATH if set, else `params.yaml` here, else the packaged defaults (with a note)."""
    path = settings.params_path
    if path.exists() or "params_path" in settings.model_fields_set:
        return path
    logger.info(
        "no %s in %s: using the default params (pass --params or set PARAMS_PATH to use yours)",
        path,
        Path.cwd(),
    )
    return DEFAULT_PARAMS


def choose_data_path(settings: Settings) -> Path:
    """The prepared data set, or the demo reviews (with a warning) until one is prepared."""
    if settings.data_path.exists() or not settings.demo_data_path.exists():
        return settings.data_path
    logger.warning(
        "%s not found (`sentiment data prepare` fetches IMDb reviews); "
        "training on the demo reviews %s",
        settings.data_path,
        settings.demo_data_path,
    )
    return settings.demo_data_path


def missing_input(data_path: Path, params_path: Path) -> str | None:
    """What is missing, where it was looked for and how to name another, or None."""
    for path, kind, option, variable in (
        (params_path, "params file", "--params", "PARAMS_PATH"),
        (data_path, "file", "--data-path", "DATA_PATH"),
    ):
        if not path.exists():
            where = "" if path.is_absolute() else f" in {Path.cwd()}"
            return f"{path}: {kind} not found{where} (name one with {option} or {variable})"
    return None


def training_request(
    settings: Settings,
    *,
    data_path: Path | None = None,
    params_path: Path | None = None,
    experiment: str | None = None,
    model_name: str | None = None,
    champion: bool = False,
    challenger: bool = False,
    register: bool = True,
    metrics_file: Path | None = None,
    plots_dir: Path | None = None,
) -> TrainingRequest:
    """The request of the CLI or of a deployment run: what is not given comes from `settings`."""
    return TrainingRequest(
        data_path=data_path or choose_data_path(settings),
        params_path=params_path or choose_params_path(settings),
        experiment=experiment or settings.experiment_name,
        model_name=model_name or settings.model_name,
        champion_metric=settings.champion_metric,
        champion=champion,
        challenger=challenger,
        register=register,
        metrics_file=metrics_file,
        plots_dir=plots_dir,
    )
