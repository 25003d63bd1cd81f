"""The one place that reads the environment.

Every configurable value of the project lives here, read from environment variables (and an
optional `.env` file). Standard names win where a tool defines one (`MLFLOW_TRACKING_URI`,
`PREFECT_API_URL`, `MLFLOW_EXPERIMENT_NAME`), so the same variables configure our code and the
tools underneath it. The defaults describe the embedded mode: a SQLite tracking store and local
artifact folder inside the project, Prefect without a server.

Nothing here creates folders, clients or writes to `os.environ`; callers decide.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sentiment_mlops.core.metrics import check_metric
from sentiment_mlops.errors import UserError


class SettingsError(UserError):
    """An environment variable (or `.env` entry) has a value the settings refuse."""


class Settings(BaseSettings):
    """Configuration of training, registry and serving, from the environment."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        protected_namespaces=(),
    )

    # --- MLflow -----------------------------------------------------------------------------
    mlflow_tracking_uri: str = Field(
        default="sqlite:///mlflow.db", validation_alias="MLFLOW_TRACKING_URI"
    )
    mlflow_registry_uri: str | None = Field(default=None, validation_alias="MLFLOW_REGISTRY_URI")
    # Where a new experiment stores artifacts when the tracking URI is a local database.
    # A tracking server decides this itself (`--artifacts-destination`), so it is unused there.
    artifact_location: str = Field(default="./mlartifacts", validation_alias="ARTIFACT_LOCATION")
    experiment_name: str = Field(
        default="sentiment-classifier", validation_alias="MLFLOW_EXPERIMENT_NAME"
    )
    model_name: str = Field(default="sentiment-classifier", validation_alias="MODEL_NAME")
    model_alias: str = Field(default="champion", validation_alias="MODEL_ALIAS")
    # A challenger must beat the champion on this metric, in its direction (`core.metrics`).
    champion_metric: str = Field(default="f1", validation_alias="CHAMPION_METRIC")
    # Bound MLflow's own HTTP retries: its default (7 retries, backoff factor 2) blocks a caller
    # for about four minutes while a tracking server is down.
    mlflow_http_max_retries: int = Field(
        default=2, ge=0, validation_alias="MLFLOW_HTTP_REQUEST_MAX_RETRIES"
    )
    mlflow_http_timeout: int = Field(
        default=10, ge=1, validation_alias="MLFLOW_HTTP_REQUEST_TIMEOUT"
    )

    # --- Data and training ------------------------------------------------------------------
    data_path: Path = Field(default=Path("data/imdb_sample.csv"), validation_alias="DATA_PATH")
    demo_data_path: Path = Field(
        default=Path("data/demo_reviews.csv"), validation_alias="DEMO_DATA_PATH"
    )
    params_path: Path = Field(default=Path("params.yaml"), validation_alias="PARAMS_PATH")

    # --- Prefect ----------------------------------------------------------------------------
    # Unset: Prefect runs flows in its local mode (a temporary in-process server).
    prefect_api_url: str | None = Field(default=None, validation_alias="PREFECT_API_URL")
    # Kept inside the project so that the local mode's database migrations run only once.
    prefect_home: Path = Field(default=Path(".prefect"), validation_alias="PREFECT_HOME")

    # --- Serving ----------------------------------------------------------------------------
    api_host: str = Field(default="127.0.0.1", validation_alias="API_HOST")
    api_port: int = Field(default=8000, ge=1, le=65535, validation_alias="API_PORT")
    api_workers: int = Field(default=1, ge=1, validation_alias="API_WORKERS")
    # Per worker: open connections (idle keep-alive ones too) beyond this get a 503, which bounds
    # the memory that request bodies in flight can hold (each up to MAX_BODY_BYTES).
    api_limit_concurrency: int = Field(default=256, ge=2, validation_alias="API_LIMIT_CONCURRENCY")
    # Seconds an idle keep-alive connection stays open (uvicorn's default, stated here).
    api_timeout_keep_alive: int = Field(default=5, ge=1, validation_alias="API_TIMEOUT_KEEP_ALIVE")
    model_reload_interval: float = Field(
        default=10.0, gt=0, validation_alias="MODEL_RELOAD_INTERVAL"
    )
    admin_token: SecretStr | None = Field(default=None, validation_alias="ADMIN_TOKEN")
    webhook_secret: SecretStr | None = Field(default=None, validation_alias="WEBHOOK_SECRET")
    # The URL at which an MLflow server reaches this service's webhook receiver.
    webhook_url: str | None = Field(default=None, validation_alias="WEBHOOK_URL")
    max_text_chars: int = Field(default=20_000, ge=1, validation_alias="MAX_TEXT_CHARS")
    max_batch_size: int = Field(default=256, ge=1, validation_alias="MAX_BATCH_SIZE")
    max_body_bytes: int = Field(default=6_000_000, ge=1024, validation_alias="MAX_BODY_BYTES")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")

    # --- Prediction log and feedback (monitoring) --------------------------------------------
    # A SQLAlchemy URL; empty or "off" disables the log (and feedback with it).
    prediction_log_url: str | None = Field(
        default="sqlite:///predictions.db", validation_alias="PREDICTION_LOG_URL"
    )
    # False: only the text's SHA-256 and length are stored, not the text.
    log_texts: bool = Field(default=True, validation_alias="LOG_TEXTS")
    prediction_log_sample_rate: float = Field(
        default=1.0, ge=0, le=1, validation_alias="PREDICTION_LOG_SAMPLE_RATE"
    )
    # Rows older than this many days are deleted (0: kept for ever).
    prediction_log_retention_days: float = Field(
        default=30, ge=0, validation_alias="PREDICTION_LOG_RETENTION_DAYS"
    )
    prediction_log_retention_interval: float = Field(
        default=3600.0, gt=0, validation_alias="PREDICTION_LOG_RETENTION_INTERVAL"
    )
    # Records waiting for the writer; beyond this they are dropped (and counted), never waited for.
    prediction_log_queue_size: int = Field(
        default=10_000, ge=1, validation_alias="PREDICTION_LOG_QUEUE_SIZE"
    )
    # Seconds the writer gathers records into one insert (feedback flushes at once).
    prediction_log_flush_interval: float = Field(
        default=0.5, ge=0, validation_alias="PREDICTION_LOG_FLUSH_INTERVAL"
    )
    # Live accuracy: the last this-many labelled predictions of each model version.
    feedback_window: int = Field(default=500, ge=1, validation_alias="FEEDBACK_WINDOW")

    # --- Challenger rollout (README "Challenger rollout") --------------------------------------
    # The alias of a version tried on live traffic before it becomes MODEL_ALIAS.
    challenger_alias: str = Field(default="challenger", validation_alias="CHALLENGER_ALIAS")
    # off: champion only; shadow: the challenger also scores every text, off the request path;
    # canary: CANARY_PERCENT of request keys are answered by the challenger.
    rollout_mode: Literal["off", "shadow", "canary"] = Field(
        default="off", validation_alias="ROLLOUT_MODE"
    )
    canary_percent: float = Field(default=10.0, ge=0, le=100, validation_alias="CANARY_PERCENT")
    # Texts waiting for the shadow scorer; beyond this they are dropped (and counted).
    shadow_queue_size: int = Field(default=1000, ge=1, validation_alias="SHADOW_QUEUE_SIZE")

    @model_validator(mode="after")
    def _two_aliases(self) -> Settings:
        if self.challenger_alias == self.model_alias:
            raise ValueError("CHALLENGER_ALIAS must differ from MODEL_ALIAS")
        return self

    @field_validator("admin_token", "webhook_secret", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        """An empty variable (as compose writes `ADMIN_TOKEN=`) means "not configured"."""
        return None if value == "" else value

    @field_validator("champion_metric")
    @classmethod
    def _scored_metric(cls, value: str) -> str:
        return check_metric(value)

    @field_validator("prediction_log_url", mode="before")
    @classmethod
    def _off_is_unset(cls, value: object) -> object:
        """`PREDICTION_LOG_URL=` or `=off` turns the prediction log off."""
        if isinstance(value, str) and value.strip().lower() in {"", "off"}:
            return None
        return value

    @property
    def registry_uri(self) -> str:
        """The model registry lives with the tracking store unless told otherwise."""
        return self.mlflow_registry_uri or self.mlflow_tracking_uri

    @property
    def uses_local_store(self) -> bool:
        """True when MLflow writes to a local database or folder rather than a server."""
        return not self.mlflow_tracking_uri.startswith(("http://", "https://", "databricks"))


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once; a bad value is a `SettingsError` naming it."""
    try:
        return Settings()
    except ValidationError as error:
        from sentiment_mlops.core.params import validation_problems  # yaml: only when needed

        raise SettingsError(validation_problems(error)) from None
