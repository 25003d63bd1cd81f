"""The stack's credentials: from the environment when set, else generated once and kept.

Generated values go to `<stack dir>/secrets.json` (mode 0600) and are reused by later starts:
the S3 server must accept the keys it stored objects under, and the MLflow server must decrypt
the webhook secrets it stored in PostgreSQL with the same key.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from sentiment_mlops.settings import StackSettings

SECRETS_FILE = "secrets.json"


@dataclass(frozen=True)
class StackSecrets:
    s3_access_key: str
    s3_secret_key: str
    webhook_encryption_key: str
    webhook_secret: str


def load_or_create_secrets(
    settings: StackSettings, webhook_secret: SecretStr | None = None
) -> StackSecrets:
    """Values from the settings win; the rest come from the secrets file or are generated.

    `webhook_secret` is the API's `WEBHOOK_SECRET` (`Settings.webhook_secret`), when set.
    """
    path = settings.stack_dir / SECRETS_FILE
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    generated = {
        "s3_access_key": lambda: "stack-" + secrets.token_hex(4),
        "s3_secret_key": lambda: secrets.token_urlsafe(24),
        "webhook_encryption_key": _fernet_key,
        "webhook_secret": lambda: secrets.token_urlsafe(24),
    }
    values = {name: stored.get(name) or make() for name, make in generated.items()}
    if values != stored:
        write_private(path, json.dumps(values, indent=2) + "\n")
    configured = {
        "s3_access_key": settings.s3_access_key,
        "s3_secret_key": settings.s3_secret_key,
        "webhook_encryption_key": settings.webhook_encryption_key,
        "webhook_secret": webhook_secret,
    }
    for name, value in configured.items():
        if value is not None:
            values[name] = value if isinstance(value, str) else value.get_secret_value()
    return StackSecrets(**values)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    temporary.replace(path)


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
