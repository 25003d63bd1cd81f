"""The process is configured from the settings in one place (`process.configure_process`)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from sentiment_mlops.process import configure_process
from sentiment_mlops.settings import Settings
from tests.support.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "src" / "sentiment_mlops"
# What writes the environment of the process, or MLflow's process-wide stores.
_ENVIRON_METHODS = {"setdefault", "pop", "popitem", "update", "clear", "__setitem__"}
_WRITING_CALLS = {"os.putenv", "os.unsetenv", "mlflow.set_tracking_uri", "mlflow.set_registry_uri"}


def _tool_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(("MLFLOW_", "PREFECT_"))}


def test_configure_process_applies_the_settings_once_and_for_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "sqlite:///stale.db")  # not these settings'
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "false")  # a user's choice, kept
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        mlflow_tracking_uri="http://127.0.0.1:9",
        mlflow_registry_uri=None,
        mlflow_http_max_retries=0,
        mlflow_http_timeout=3,
        prefect_api_url="http://127.0.0.1:9/api",
    )

    configure_process(settings)
    first = _tool_environment()
    configure_process(settings)

    assert _tool_environment() == first  # idempotent
    assert first["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:9"
    assert "MLFLOW_REGISTRY_URI" not in first  # the registry follows the tracking store
    assert (first["MLFLOW_HTTP_REQUEST_MAX_RETRIES"], first["MLFLOW_HTTP_REQUEST_TIMEOUT"]) == (
        "0",
        "3",
    )
    assert first["MLFLOW_DISABLE_TELEMETRY"] == "false"
    assert first["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"] == "false"
    assert first["PREFECT_API_URL"] == "http://127.0.0.1:9/api"


def _environment_writes(path: Path) -> list[str]:
    """`file:line` of each write to `os.environ` (or MLflow's process-wide URIs) in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.AugAssign):
            targets = [node.target]
        writes = any(
            isinstance(target, ast.Subscript) and ast.unparse(target.value) == "os.environ"
            for target in targets
        )
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            called = ast.unparse(node.func)
            writes = writes or called in _WRITING_CALLS
            writes = writes or (
                ast.unparse(node.func.value) == "os.environ" and node.func.attr in _ENVIRON_METHODS
            )
        if writes:
            found.append(f"{path.relative_to(PROJECT_ROOT)}:{getattr(node, 'lineno', '?')}")
    return found


def test_only_the_process_module_writes_the_environment() -> None:
    """Library code takes a client or the settings; the entry points call `configure_process`."""
    writes = [
        where
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "process.py"
        for where in _environment_writes(path)
    ]
    assert writes == []
    assert _environment_writes(PACKAGE / "process.py")  # the check sees the writes it looks for
