"""`entry_flow`: a new flow gets what every flow of ours does, from the one decorator.

It configures its process from the settings, its `sentiment_mlops` log lines reach its run log,
and a user error ends the run Failed with its one line and no traceback (a bug keeps it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from sentiment_mlops.core.data import DataError
from sentiment_mlops.settings import Settings, get_settings
from tests.support.run_log import run_log

logger = logging.getLogger("sentiment_mlops.tests.probe")


def probe(outcome: str = "done") -> str:
    """Log a line, then return the HTTP timeout MLflow will use, or fail as asked."""
    logger.info("the probe ran: %s", outcome)
    if outcome == "user error":
        raise DataError("probe.csv: file has a header but no rows")
    if outcome == "bug":
        raise RuntimeError("a bug of ours")
    return os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"]


@pytest.fixture(scope="module")
def probe_flow() -> Any:
    """`probe` as a flow of ours, `@entry_flow("test-probe")` (made here, not at import: only
    the worker that runs these tests imports Prefect)."""
    from sentiment_mlops.flows.entry import entry_flow

    return entry_flow("test-probe")(probe)


@pytest.fixture
def timeout_in_dotenv_only(
    migrated_store_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's HTTP timeout in a .env only, which MLflow does not read: only the settings do."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("MLFLOW_HTTP_REQUEST_TIMEOUT=7\n")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")  # so that teardown restores it
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT")
    monkeypatch.setitem(Settings.model_config, "env_file", str(dotenv))
    get_settings.cache_clear()


def test_a_new_flow_configures_its_process_and_logs_to_its_run(
    timeout_in_dotenv_only: None, probe_flow: Any
) -> None:
    state = probe_flow(return_state=True)

    assert state.is_completed()
    assert state.result() == "7"  # written by configure_process, from the settings
    log = run_log(state.state_details.flow_run_id)
    assert "the probe ran: done" in log
    assert probe_flow.name == "test-probe"


def test_a_new_flow_ends_a_user_error_in_one_line(
    migrated_store_env: dict[str, str], probe_flow: Any
) -> None:
    state = probe_flow(outcome="user error", return_state=True)

    assert state.is_failed()
    assert state.message == "probe.csv: file has a header but no rows"
    log = run_log(state.state_details.flow_run_id)
    assert "the probe ran: user error" in log
    assert not any("Traceback" in line for line in log), log
    with pytest.raises(DataError):  # called as a function, the flow raises the error itself
        probe_flow(outcome="user error")


def test_a_new_flow_keeps_the_traceback_of_a_bug(
    migrated_store_env: dict[str, str], probe_flow: Any
) -> None:
    state = probe_flow(outcome="bug", return_state=True)

    assert state.is_failed()
    log = run_log(state.state_details.flow_run_id)
    assert any("Traceback" in line and "a bug of ours" in line for line in log), log


def test_parameters_are_validated(migrated_store_env: dict[str, str], probe_flow: Any) -> None:
    state = probe_flow(outcome=["not", "a", "string"], return_state=True)

    assert state.is_failed()
    assert "outcome" in (state.message or "")
