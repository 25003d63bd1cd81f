"""The one place that reads the environment.

Every configurable value of the project lives here, read from environment variables (and an
optional `.env` file) by one class, `Settings`. Standard names win where a tool defines one
(`MLFLOW_TRACKING_URI`, `PREFECT_API_URL`, `MLFLOW_EXPERIMENT_NAME`), so the same variables
configure our code and the tools underneath it. The defaults describe the embedded mode: a
SQLite tracking store and local artifact folder inside the project, Prefect without a server.
The local stack's settings (`sentiment stack`) are its nested section, `Settings.stack`, read
from their own `STACK_*` variables.

Nothing here creates folders, clients or writes to `os.environ`: `process.configure_process`
applies the settings to the process, once per entry point.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from sentiment_mlops.core.metrics import check_metric
from sentiment_mlops.errors import UserError


class SettingsError(UserError):
    """An environment variable (or `.env` entry) has a value the settings refuse."""


def _empty_is_unset(value: object) -> object:
    """An empty variable (as compose writes `ADMIN_TOKEN=`) means "not configured"."""
    return None if value == "" else value


# A secret that may be unset; an empty value is unset too. No secret has a default value.
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_empty_is_unset)]

# MLflow's rule for webhook names (mlflow/utils/validation.py): 1-63 letters, digits, `.`, `_`
# or `-`, starting and ending with a letter or digit.
WEBHOOK_NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"

# Everything of the local stack listens on this address only.
STACK_HOST = "127.0.0.1"
# The Prefect work pool and deployment of the training flow (`flows.deployment`).
WORK_POOL = "sentiment-process"
DEPLOYMENT_NAME = "local"


class StackSettings(BaseModel):
    """The local stack (`sentiment stack`): where it listens, keeps its state, finds PostgreSQL.

    The `stack` section of `Settings`, each field read from the `STACK_*` variable its alias
    names. Ports are configurable so that a second stack (the tests') can run beside a
    developer's. Credentials have no defaults here: unset ones are generated once and kept in
    the stack folder (`stack.secrets`), so a restarted stack still reads its own S3 objects and
    webhooks. The webhook secret is the API's own `WEBHOOK_SECRET`.
    """

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    stack_dir: Path = Field(default=Path(".stack"), validation_alias="STACK_DIR")
    log_dir: Path | None = Field(default=None, validation_alias="STACK_LOG_DIR")
    # The working directory of the API and of deployment runs: relative paths (data/, params)
    # resolve there, as they do for `sentiment train` run from the project.
    project_dir: Path = Field(default_factory=Path.cwd, validation_alias="STACK_PROJECT_DIR")

    # An admin connection: the stack creates its databases through it when they are missing.
    postgres_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        validation_alias="STACK_POSTGRES_URL",
    )
    mlflow_database: str = Field(default="mlflow", validation_alias="STACK_MLFLOW_DATABASE")
    prefect_database: str = Field(default="prefect", validation_alias="STACK_PREFECT_DATABASE")
    predictions_database: str = Field(
        default="predictions", validation_alias="STACK_PREDICTIONS_DATABASE"
    )

    s3_port: int = Field(default=8333, ge=1024, le=40000, validation_alias="STACK_S3_PORT")
    mlflow_port: int = Field(default=5001, ge=1, le=65535, validation_alias="STACK_MLFLOW_PORT")
    prefect_port: int = Field(default=4200, ge=1, le=65535, validation_alias="STACK_PREFECT_PORT")
    api_port: int = Field(default=8000, ge=1, le=65535, validation_alias="STACK_API_PORT")
    # API processes behind the stack's load balancer (HAProxy on `api_port`), each on a free port.
    api_replicas: int = Field(default=1, ge=1, le=16, validation_alias="STACK_API_REPLICAS")
    # Prometheus (the Debian package's binary), scraping the API; skipped when not installed.
    prometheus_port: int = Field(
        default=9090, ge=1, le=65535, validation_alias="STACK_PROMETHEUS_PORT"
    )

    s3_access_key: str | None = Field(default=None, validation_alias="STACK_S3_ACCESS_KEY_ID")
    s3_secret_key: OptionalSecret = Field(
        default=None, validation_alias="STACK_S3_SECRET_ACCESS_KEY"
    )
    # Fernet key with which the MLflow server encrypts stored webhook secrets (MLflow's name).
    webhook_encryption_key: OptionalSecret = Field(
        default=None, validation_alias="MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"
    )

    artifacts_bucket: str = Field(
        default="mlflow-artifacts", validation_alias="STACK_ARTIFACTS_BUCKET"
    )
    dvc_bucket: str = Field(default="dvc", validation_alias="STACK_DVC_BUCKET")
    # uvicorn workers of the MLflow server (its default, 4, is slow to start on a laptop).
    mlflow_workers: int = Field(default=2, ge=1, validation_alias="STACK_MLFLOW_WORKERS")
    work_pool: str = Field(default=WORK_POOL, validation_alias="STACK_WORK_POOL")
    deployment_name: str = Field(default=DEPLOYMENT_NAME, validation_alias="STACK_DEPLOYMENT_NAME")
    # How often the worker asks for scheduled runs (Prefect's default is 10 s).
    worker_poll_seconds: float = Field(
        default=5.0, gt=0, validation_alias="STACK_WORKER_POLL_SECONDS"
    )
    start_timeout: float = Field(default=180.0, gt=0, validation_alias="STACK_START_TIMEOUT")

    @property
    def logs(self) -> Path:
        return self.log_dir or self.stack_dir / "logs"

    @property
    def s3_url(self) -> str:
        return f"http://{STACK_HOST}:{self.s3_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://{STACK_HOST}:{self.mlflow_port}"

    @property
    def prefect_url(self) -> str:
        return f"http://{STACK_HOST}:{self.prefect_port}"

    @property
    def prefect_api_url(self) -> str:
        return f"{self.prefect_url}/api"

    @property
    def api_url(self) -> str:
        return f"http://{STACK_HOST}:{self.api_port}"

    def database_url(self, database: str, driver: str) -> str:
        """The admin URL pointed at `database` with a SQLAlchemy `driver` (psycopg, asyncpg)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.postgres_url).set(drivername=f"postgresql+{driver}", database=database)
        return url.render_as_string(hide_password=False)


class _SectionSource(PydanticBaseSettingsSource):
    """The `stack` section from its flat variables (`STACK_S3_PORT`, ...) in one source.

    pydantic-settings reads a nested model from one JSON variable or from `STACK__FIELD`
    names; the stack's variables predate the section and users set them as they are. Wrapping
    the environment and the `.env` source one each keeps their order (the environment wins).
    """

    def __init__(self, settings_cls: type[BaseSettings], source: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self.source = source

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # noqa: ARG002
        """Unused (the base class requires it): `__call__` returns the whole section."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if not isinstance(self.source, EnvSettingsSource):  # the .env source is one too
            return {}
        found = self.source.env_vars
        section = {}
        for field in StackSettings.model_fields.values():
            variable = str(field.validation_alias)
            value = found.get(variable if self.source.case_sensitive else variable.lower())
            if value is not None:
                section[variable] = value
        return {"stack": section} if section else {}


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
    # A tracking server's credentials, under MLflow's names: basic auth from the user name and
    # password, else a bearer token (as MLflow sends them). The API's own REST client reads them
    # here; MLflow reads the same variables itself.
    mlflow_tracking_username: str | None = Field(
        default=None, validation_alias="MLFLOW_TRACKING_USERNAME"
    )
    mlflow_tracking_password: OptionalSecret = Field(
        default=None, validation_alias="MLFLOW_TRACKING_PASSWORD"
    )
    mlflow_tracking_token: OptionalSecret = Field(
        default=None, validation_alias="MLFLOW_TRACKING_TOKEN"
    )
    mlflow_tracking_insecure_tls: bool = Field(
        default=False, validation_alias="MLFLOW_TRACKING_INSECURE_TLS"
    )
    mlflow_tracking_server_cert_path: str | None = Field(
        default=None, validation_alias="MLFLOW_TRACKING_SERVER_CERT_PATH"
    )
    # MLflow's gate on unpickling a model (its default: allowed); the API's loader obeys it too.
    mlflow_allow_pickle_deserialization: bool = Field(
        default=True, validation_alias="MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
    )

    # --- Data and training ------------------------------------------------------------------
    data_path: Path = Field(default=Path("data/imdb_sample.csv"), validation_alias="DATA_PATH")
    demo_data_path: Path = Field(
        default=Path("data/demo_reviews.csv"), validation_alias="DEMO_DATA_PATH"
    )
    params_path: Path = Field(default=Path("params.yaml"), validation_alias="PARAMS_PATH")
    # A training flow reads its data again after an I/O error (a network file system, an
    # object store), twice, waiting this long before each attempt.
    data_read_retry_delay: float = Field(
        default=2.0, ge=0, validation_alias="DATA_READ_RETRY_DELAY"
    )

    # --- Batch scoring (`sentiment score`) ---------------------------------------------------
    # Rows per vectorised prediction of the local engine; memory grows with it, not the file.
    score_batch_size: int = Field(default=10_000, ge=1, validation_alias="SCORE_BATCH_SIZE")
    score_experiment_name: str = Field(
        default="sentiment-scoring", validation_alias="SCORE_EXPERIMENT_NAME"
    )
    # Unset: `local[*]`, or the master `spark-submit --master` gave.
    spark_master: str | None = Field(default=None, validation_alias="SPARK_MASTER")
    # The S3 endpoint of `s3://` inputs and outputs (the stack's SeaweedFS; unset: AWS). The
    # keys come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as for boto3.
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    )

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
    admin_token: OptionalSecret = Field(default=None, validation_alias="ADMIN_TOKEN")
    # Shared with MLflow, which signs its webhook deliveries with it (also the stack's).
    webhook_secret: OptionalSecret = Field(default=None, validation_alias="WEBHOOK_SECRET")
    # The URL at which an MLflow server reaches this service's webhook receiver.
    webhook_url: str | None = Field(default=None, validation_alias="WEBHOOK_URL")
    # The name of this service's registry webhook: registration updates the webhook of that name
    # (or creates it). Unset: `{MODEL_NAME}-{MODEL_ALIAS}-reload`. Two APIs registering against
    # one MLflow server (a production and a canary one) need two names, or each takes over the
    # other's webhook and only the last registered is called. MLflow's rule for names.
    webhook_name: Annotated[
        Annotated[str, StringConstraints(max_length=63, pattern=WEBHOOK_NAME_PATTERN)] | None,
        BeforeValidator(_empty_is_unset),
    ] = Field(default=None, validation_alias="WEBHOOK_NAME")
    # Many replicas: a PostgreSQL database through which the replica that receives a webhook
    # tells all the others to check the alias at once (`serving.fanout`). Unset: each replica
    # hears only its own webhooks and polls.
    reload_notify_url: Annotated[str | None, BeforeValidator(_empty_is_unset)] = Field(
        default=None, validation_alias="RELOAD_NOTIFY_URL"
    )
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

    # --- Drift check (`sentiment monitor`, the `sentiment-monitoring` flow) -------------------
    # One MLflow run per check goes to this experiment; thresholds live in params.yaml.
    monitoring_experiment: str = Field(
        default="sentiment-monitoring", validation_alias="MONITORING_EXPERIMENT_NAME"
    )
    # The deployment a drift check starts (champion=true) when a Prefect server is configured.
    training_deployment: str = Field(
        default="sentiment-training/local", validation_alias="TRAINING_DEPLOYMENT"
    )

    # --- The local stack (`sentiment stack`) -------------------------------------------------
    stack: StackSettings = Field(default_factory=StackSettings)

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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """pydantic-settings' sources in its order, each followed by the stack section it holds."""
        return (
            init_settings,
            env_settings,
            _SectionSource(settings_cls, env_settings),
            dotenv_settings,
            _SectionSource(settings_cls, dotenv_settings),
            file_secret_settings,
        )

    @field_validator("champion_metric")
    @classmethod
    def _scored_metric(cls, value: str) -> str:
        return check_metric(value)

    @field_validator("reload_notify_url")
    @classmethod
    def _postgresql_url(cls, value: str | None) -> str | None:
        """A PostgreSQL URL, as libpq or SQLAlchemy writes it (`postgresql+psycopg://...`)."""
        if value is not None and not value.startswith(
            ("postgresql://", "postgresql+", "postgres://")
        ):
            raise ValueError("must be a PostgreSQL URL (postgresql://user:password@host/database)")
        return value

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
        raise SettingsError("; ".join(map(_problem_line, error.errors()))) from None


def _problem_line(problem: ErrorDetails) -> str:
    """One problem named by its variable (`STACK_S3_PORT`, not `stack.STACK_S3_PORT`); a rule
    across variables (a model validator) has no location, and its message names them."""
    message = problem["msg"].removeprefix("Value error, ")
    return f"{problem['loc'][-1]}: {message}" if problem["loc"] else message
