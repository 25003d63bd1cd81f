"""Apply the settings to this process: the one module that writes MLflow's and Prefect's variables.

MLflow and Prefect read some of their configuration only from the environment (MLflow its HTTP
retry policy and artifact transfer switches, Prefect everything, when it is imported), and the
fluent MLflow API finds its stores there. Each entry point calls `configure_process` once with
its settings, before it uses either library: the CLI (its main callback), the API (its
lifespan, in every uvicorn worker) and the training flow (in a worker's flow-run process).
Library code takes what it needs as arguments (an `MlflowClient`, the settings) and never
writes the environment; a test keeps every other module of the package from doing so.

Variables the settings define are written from the settings, so a value from `.env`, or from
settings built in code, reaches the libraries too; switches the settings do not define are
defaults a user's environment may override. Nothing here imports MLflow or Prefect, so every
command, `sentiment stack status` included, stays quick.
"""

from __future__ import annotations

import os
from pathlib import Path

from sentiment_mlops.settings import Settings

# Switches of ours that a user's environment may override.
_MLFLOW_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # A server that proxies S3 artifacts offers MLflow 3 clients presigned URLs naming S3 as
    # the *server* reaches it (`http://minio:9000` in compose): unreachable from the host, where
    # a download then retries for minutes. Artifacts go through the server, as it proxies them.
    "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
    "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "false",
    # MLflow prints links to its UI on stdout ("View run ... at"); our summaries name the run.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


def configure_process(settings: Settings) -> None:
    """Point MLflow (and Prefect, when a server is configured) at the configured stores.

    Idempotent: a second call with the same settings changes nothing. Without a bound on its
    HTTP retries, an MLflow call blocks for about four minutes while a server is down.
    """
    os.environ["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    if settings.mlflow_registry_uri:
        os.environ["MLFLOW_REGISTRY_URI"] = settings.mlflow_registry_uri
    else:
        # Unset, MLflow's registry follows the tracking URI: a stale value must not win.
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(settings.mlflow_http_max_retries)
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(settings.mlflow_http_timeout)
    for name, value in _MLFLOW_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if settings.prefect_api_url:
        os.environ["PREFECT_API_URL"] = settings.prefect_api_url


def use_local_prefect(api_url: str, home: Path) -> None:
    """Point Prefect at the temporary local server the CLI started (`flows.local_prefect`).

    Its URL exists only once it has started, so this is not a setting; Prefect reads it when it
    is imported, after this call.
    """
    os.environ["PREFECT_API_URL"] = api_url
    os.environ["PREFECT_HOME"] = str(home)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # It serves no UI and stops with the command: no "View at" link to it.
    os.environ["PREFECT_UI_URL"] = ""
