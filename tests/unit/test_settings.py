"""One `Settings`, the local stack's settings its `stack` section, read from their own names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sentiment_mlops.settings import Settings, SettingsError, StackSettings, get_settings
from tests.support.paths import PROJECT_ROOT


def test_the_stack_section_reads_its_stack_variables_from_the_environment_and_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("STACK_S3_PORT=9333\nSTACK_API_PORT=7000\nWEBHOOK_SECRET=from-dotenv\n")
    monkeypatch.setenv("STACK_API_PORT", "7100")  # the environment wins over .env
    monkeypatch.setenv("STACK_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", "")  # empty: unset

    settings = Settings(_env_file=dotenv)  # type: ignore[call-arg]

    assert (settings.stack.s3_port, settings.stack.api_port) == (9333, 7100)
    assert settings.stack.stack_dir == tmp_path / "state"
    assert settings.stack.webhook_encryption_key is None
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == "from-dotenv"


def test_webhook_secret_is_read_once() -> None:
    aliases = [field.validation_alias for field in StackSettings.model_fields.values()]
    assert "WEBHOOK_SECRET" not in aliases
    assert Settings.model_fields["webhook_secret"].validation_alias == "WEBHOOK_SECRET"


def test_a_bad_stack_variable_is_a_settings_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STACK_S3_PORT", "many")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match=r"^STACK_S3_PORT: Input should be a valid integer"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_every_stack_variable_the_readme_names_is_read() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(STACK_[A-Z0-9_]+)`", readme))
    read = {str(field.validation_alias) for field in StackSettings.model_fields.values()}
    assert named, "README names no STACK_ variable"
    assert named <= read
