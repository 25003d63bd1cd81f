"""What the servers need before and after they start: PostgreSQL databases and S3 buckets."""

from __future__ import annotations

from typing import Any

from sentiment_mlops.settings import StackSettings
from sentiment_mlops.stack import StackError
from sentiment_mlops.stack.health import poll
from sentiment_mlops.stack.secrets import StackSecrets
from sentiment_mlops.stack.services import REGION


class ProvisionError(StackError):
    """A database or bucket could not be made; the message says what to fix."""


def ensure_databases(settings: StackSettings, *names: str) -> list[str]:
    """Create the databases that do not exist yet; returns the ones created.

    Connects with the admin URL (`STACK_POSTGRES_URL`). CREATE DATABASE cannot run inside a
    transaction, hence autocommit.
    """
    import psycopg
    from psycopg import sql

    try:
        connection = psycopg.connect(_libpq_url(settings.postgres_url), autocommit=True)
    except psycopg.OperationalError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "unreachable"
        raise ProvisionError(
            f"PostgreSQL is not reachable at {_safe(settings.postgres_url)} ({first}); "
            "start it or set STACK_POSTGRES_URL"
        ) from None
    created = []
    with connection:
        for name in names:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                created.append(name)
    return created


def s3_client(settings: StackSettings, stack_secrets: StackSecrets) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_url,
        aws_access_key_id=stack_secrets.s3_access_key,
        aws_secret_access_key=stack_secrets.s3_secret_key,
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=10),
    )


def ensure_buckets(
    settings: StackSettings, stack_secrets: StackSecrets, timeout: float = 60.0
) -> list[str]:
    """Create the artifact and DVC buckets, retrying while the S3 server finishes starting.

    SeaweedFS answers its health check before its S3 gateway accepts signed requests, so the
    first calls may fail; a real error (wrong credentials) still shows after the timeout.
    """
    wanted = [settings.artifacts_bucket, settings.dvc_bucket]
    created: list[str] = []
    errors: list[Exception] = []

    def create_missing() -> bool:
        try:
            client = s3_client(settings, stack_secrets)
            existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
            missing = [name for name in wanted if name not in existing]
            for name in missing:
                client.create_bucket(Bucket=name)
        except Exception as error:
            errors.append(error)
            return False
        created[:] = missing
        return True

    if not poll(create_missing, timeout, interval=0.5):
        raise ProvisionError(f"cannot create the S3 buckets {wanted}: {errors[-1]}") from errors[-1]
    return created


def _libpq_url(url: str) -> str:
    """psycopg takes libpq URLs: drop a SQLAlchemy driver suffix (`postgresql+psycopg://`)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+')[0]}://{rest}"


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
