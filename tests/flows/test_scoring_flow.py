"""The Prefect flow `sentiment-scoring`: the CLI's parameters, the scoring run's result, and a
user error as the Failed run's one-line message."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.scoring.helpers import store_environment
from tests.scoring.reviews import generated_reviews, write_reviews
from tests.serving.conftest import mlflow_store  # noqa: F401
from tests.serving.helpers import MlflowStore


@pytest.fixture
def store_settings(mlflow_store: MlflowStore, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    """The flow reads its settings from the environment, as on a worker."""
    with store_environment(mlflow_store, monkeypatch) as settings:
        yield settings


def test_the_flow_scores_a_file(store_settings, tmp_path: Path) -> None:
    from sentiment_mlops.flows.scoring import FLOW_NAME, scoring_flow

    source = write_reviews(tmp_path / "in.csv", generated_reviews(300, nulls=[7]))
    target = tmp_path / "out.parquet"
    state = scoring_flow(input=str(source), output=str(target), batch_size=50, return_state=True)
    assert state.is_completed()
    result = state.result()
    assert (result["rows"], result["null_texts"]) == (300, 1)
    assert (result["model_version"], result["output"]) == ("1", str(target))
    assert len(pd.read_parquet(target)) == 300
    assert scoring_flow.name == FLOW_NAME == "sentiment-scoring"


def test_a_user_error_fails_the_run_with_its_line(store_settings, tmp_path: Path) -> None:
    from sentiment_mlops.flows.scoring import scoring_flow

    source = write_reviews(tmp_path / "in.csv", generated_reviews(10))
    target = tmp_path / "out.csv"
    target.write_text("older results\n")
    state = scoring_flow(input=str(source), output=str(target), return_state=True)
    assert state.is_failed()
    assert state.message == f"{target} exists: use --force to replace it"
    assert target.read_text() == "older results\n"
