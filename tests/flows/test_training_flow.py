"""The Prefect flow end to end on the demo reviews, against a temporary SQLite MLflow."""

from __future__ import annotations

import mlflow
import pytest

from sentiment_mlops import registry
from sentiment_mlops.settings import Settings, get_settings
from tests.flows.conftest import ChampionStore, UnregisteredRun
from tests.flows.prefect_reads import task_run_states
from tests.support.flow_spec import FLOW_NAME as SPECIFIED_FLOW_NAME
from tests.support.flow_spec import TASK_NAMES
from tests.support.run_log import run_log


def test_flow_runs_every_step_as_a_named_task(first_champion: ChampionStore) -> None:
    from sentiment_mlops.flows.training import FLOW_NAME, training_flow

    state = first_champion.state  # the flow's first run on an empty store (once a session)
    assert state.is_completed()
    result = state.result()
    tasks = task_run_states(state.state_details.flow_run_id)
    assert set(tasks) == TASK_NAMES
    assert set(tasks.values()) == {"COMPLETED"}
    assert result.version == "1"
    assert result.became_champion is True
    assert set(result.metrics) >= {"accuracy", "f1", "roc_auc", "log_loss"}
    run = mlflow.MlflowClient(get_settings().mlflow_tracking_uri).get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert training_flow.name == FLOW_NAME == SPECIFIED_FLOW_NAME


def test_champion_moves_only_to_a_better_model(weak_champion: ChampionStore, write_params) -> None:
    from sentiment_mlops.flows.training import training_flow

    settings = get_settings()
    client = registry.make_client(settings)
    name = settings.model_name
    crippled = write_params("crippled", vectorizer={"max_features": 3})

    first = weak_champion.first  # the flow's run with WEAK_PARAMS on the empty store
    assert first.became_champion is True
    assert first.promotion.reason == "no champion yet"

    worse_state = training_flow(params_path=str(crippled), champion=True, return_state=True)
    worse = worse_state.result()
    assert worse.became_champion is False
    decision = worse.promotion
    assert decision.champion_version == first.version
    assert decision.challenger_score < decision.champion_score
    # Its run log shows the decision with both scores (what the UI shows for a worker's run;
    # the log of a first run, with no champion, is in test_run_logs.py).
    log = "\n".join(run_log(worse_state.state_details.flow_run_id))
    assert "champion decision: kept champion" in log
    assert f"challenger v{decision.challenger_version}={decision.challenger_score:.4f}" in log
    assert f"champion v{decision.champion_version}={decision.champion_score:.4f}" in log
    # The champion is re-scored on this run's test rows: the same rows as its own run here.
    assert decision.champion_score == pytest.approx(first.metrics["f1"])
    assert registry.get_alias(client, name, "champion").version == first.version

    better = training_flow(champion=True)
    assert better.became_champion is True
    assert better.promotion.challenger_score > better.promotion.champion_score
    assert registry.get_alias(client, name, "champion").version == better.version
    assert registry.get_alias(client, name, "previous").version == first.version

    tie = training_flow(champion=True)
    assert tie.became_champion is False
    assert tie.promotion.reason == "champion scores at least as high"

    run = client.get_run(worse.run_id)
    assert run.data.tags["promotion.promoted"] == "false"
    assert run.data.metrics["champion_f1"] == pytest.approx(decision.champion_score)


def test_no_register_logs_a_run_but_no_version(unregistered_run: UnregisteredRun) -> None:
    result = unregistered_run.result  # the flow's run with register_model=False (once a session)
    assert result.version is None
    settings = Settings(mlflow_tracking_uri=unregistered_run.tracking_uri)
    client = registry.make_client(settings)
    assert client.get_run(result.run_id).info.status == "FINISHED"
    assert registry.list_versions(client, settings.model_name) == []


def test_registered_champion_loads_as_pyfunc_and_predicts(first_champion: ChampionStore) -> None:
    model = mlflow.pyfunc.load_model(f"models:/{get_settings().model_name}@champion")
    answers = model.predict(["A wonderful, moving film.", "Dull, awful and far too long."])
    assert list(answers["sentiment"]) == ["positive", "negative"]
    assert ((answers["confidence"] > 0.5) & (answers["confidence"] <= 1)).all()
    assert first_champion.first.version == "1"


def test_log_loss_champion_must_score_lower(
    weak_champion: ChampionStore, monkeypatch: pytest.MonkeyPatch, write_params
) -> None:
    """Log loss is lower-is-better: a model with higher log loss must not take the champion.

    The champion (WEAK_PARAMS) was chosen by F1; each run here re-scores it by log loss."""
    from sentiment_mlops.flows.training import training_flow

    monkeypatch.setenv("CHAMPION_METRIC", "log_loss")
    get_settings.cache_clear()
    settings = get_settings()
    client = registry.make_client(settings)
    first = weak_champion.first
    crippled = write_params("crippled", vectorizer={"max_features": 3})

    worse = training_flow(params_path=str(crippled), champion=True)
    decision = worse.promotion
    assert decision.metric == "log_loss"
    assert decision.champion_version == first.version
    assert decision.champion_score == pytest.approx(first.metrics["log_loss"])
    assert decision.challenger_score > decision.champion_score  # higher loss: worse
    assert worse.became_champion is False
    assert decision.reason == "champion scores at least as low"

    better = training_flow(champion=True)
    decision = better.promotion
    assert decision.metric == "log_loss"
    assert decision.challenger_score < decision.champion_score
    assert better.became_champion is True
    assert decision.reason == "challenger scores lower"
    assert registry.get_alias(client, settings.model_name, "champion").version == better.version
