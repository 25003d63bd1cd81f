"""What a training run leaves in Prefect's run log (what the UI shows for a worker's run)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from sentiment_mlops.core.data import DataError
from sentiment_mlops.core.params import ParamsError
from sentiment_mlops.settings import Settings, get_settings
from tests.flows.conftest import ChampionStore
from tests.support.run_log import run_log


def test_run_log_explains_the_run(first_champion: ChampionStore) -> None:
    settings = get_settings()
    state = first_champion.state  # the flow's first run on an empty store (once a session)
    result = state.result()
    log = "\n".join(run_log(state.state_details.flow_run_id))
    assert f"loaded {result.rows} reviews" in log
    assert f"f1={result.metrics['f1']:.4f}" in log
    assert f"accuracy={result.metrics['accuracy']:.4f}" in log
    assert f"logged MLflow run {result.run_id}" in log
    assert f"registered {settings.model_name} version {result.version}" in log
    assert "champion decision: promoted" in log
    # A decision against a champion shows both scores: checked on the log of a run of
    # test_training_flow.py's test_champion_moves_only_to_a_better_model (one run fewer).


def test_user_error_fails_the_run_with_its_message(settings: Settings, tmp_path: Path) -> None:
    from sentiment_mlops.flows.training import training_flow

    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n")
    state = training_flow(data_path=str(empty), return_state=True)
    assert state.is_failed()
    assert state.message == f"{empty}: file has a header but no rows"
    log = run_log(state.state_details.flow_run_id)
    assert not any("Traceback" in line for line in log), log
    # Bad data is not read again: one attempt, no retry.
    assert not any("Retry" in line for line in log), log


@pytest.mark.parametrize(
    ("error", "keeps_traceback"),
    [
        (DataError("x.csv: file is empty"), False),
        (ParamsError("params.yaml: model.C: Input should be a finite number"), False),
        (RuntimeError("a bug of ours"), True),
        (KeyError("text"), True),
    ],
)
def test_only_user_errors_lose_their_traceback(error: Exception, keeps_traceback: bool) -> None:
    from sentiment_mlops.flows.run_logs import UserErrorTracebackFilter

    try:
        raise error
    except Exception:
        record = logging.LogRecord(
            "prefect.task_runs", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    UserErrorTracebackFilter().filter(record)
    assert (record.exc_info is not None) is keeps_traceback


def test_an_input_output_error_is_read_again(
    migrated_store_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentiment_mlops.flows.training import training_flow

    monkeypatch.setenv("DATA_READ_RETRY_DELAY", "0")  # the setting: no 2 s waits here
    get_settings.cache_clear()
    flaky = tmp_path / "flaky.csv"
    flaky.symlink_to("/proc/self/mem")  # EIO on every read (see tests/unit/test_data.py)
    state = training_flow(data_path=str(flaky), return_state=True)
    assert state.is_failed()
    assert "Input/output error" in state.message
    log = run_log(state.state_details.flow_run_id)
    retries = [line for line in log if "Retry" in line]
    assert len(retries) == 2, log
    assert all("will start immediately" in line for line in retries), retries
