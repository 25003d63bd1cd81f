"""`StackSettings`: where the local stack listens, keeps its state and finds PostgreSQL.

Read from `STACK_*` environment variables (and `.env`). Everything is bound to 127.0.0.1; the
ports are configurable so that a second stack (the tests') can run beside a developer's.
Credentials have no defaults here: unset ones are generated once and kept in the stack folder
(see `secrets`), so a stack restarted later still reads its own S3 objects and webhooks.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sentiment_mlops.flows.deployment import DEPLOYMENT_NAME, WORK_POOL

HOST = "127.0.0.1"
REGION = "us-east-1"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class StackSettings(BaseSettings):
    """Configuration of `sentiment stack`, from the environment."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    stack_dir: Path = Field(default=Path(".stack"), validation_alias="STACK_DIR")
    log_dir: Path | None = Field(default=None, validation_alias="STACK_LOG_DIR")
    # The working directory of the API and of deployment runs: relative paths (data/, params)
    # resolve there, as they do for `sentiment train` run from the project.
    project_dir: Path = Field(default_factory=Path.cwd, validation_alias="STACK_PROJECT_DIR")

    # An admin connection: the stack creates its databases through it when they are missing.
    postgres_url: str = Field(default=DEFAULT_POSTGRES_URL, validation_alias="STACK_POSTGRES_URL")
    mlflow_database: str = Field(default="mlflow", validation_alias="STACK_MLFLOW_DATABASE")
    prefect_database: str = Field(default="prefect", validation_alias="STACK_PREFECT_DATABASE")
    predictions_database: str = Field(
        default="predictions", validation_alias="STACK_PREDICTIONS_DATABASE"
    )

    s3_port: int = Field(default=8333, ge=1024, le=40000, validation_alias="STACK_S3_PORT")
    mlflow_port: int = Field(default=5001, ge=1, le=65535, validation_alias="STACK_MLFLOW_PORT")
    prefect_port: int = Field(default=4200, ge=1, le=65535, validation_alias="STACK_PREFECT_PORT")
    api_port: int = Field(default=8000, ge=1, le=65535, validation_alias="STACK_API_PORT")
    # Prometheus (the Debian package's binary), scraping the API; skipped when not installed.
    prometheus_port: int = Field(
        default=9090, ge=1, le=65535, validation_alias="STACK_PROMETHEUS_PORT"
    )

    s3_access_key: str | None = Field(default=None, validation_alias="STACK_S3_ACCESS_KEY_ID")
    s3_secret_key: SecretStr | None = Field(
        default=None, validation_alias="STACK_S3_SECRET_ACCESS_KEY"
    )
    # Fernet key with which the MLflow server encrypts stored webhook secrets.
    webhook_encryption_key: SecretStr | None = Field(
        default=None, validation_alias="MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"
    )
    # The secret the MLflow server signs webhook deliveries to the API with.
    webhook_secret: SecretStr | None = Field(default=None, validation_alias="WEBHOOK_SECRET")

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

    @field_validator("s3_secret_key", "webhook_encryption_key", "webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def logs(self) -> Path:
        return self.log_dir or self.stack_dir / "logs"

    @property
    def s3_url(self) -> str:
        return f"http://{HOST}:{self.s3_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://{HOST}:{self.mlflow_port}"

    @property
    def prefect_url(self) -> str:
        return f"http://{HOST}:{self.prefect_port}"

    @property
    def prefect_api_url(self) -> str:
        return f"{self.prefect_url}/api"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    def database_url(self, database: str, driver: str) -> str:
        """The admin URL pointed at `database` with a SQLAlchemy `driver` (psycopg, asyncpg)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.postgres_url).set(drivername=f"postgresql+{driver}", database=database)
        return url.render_as_string(hide_password=False)
