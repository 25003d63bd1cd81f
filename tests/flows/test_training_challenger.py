"""The training flow with `challenger=true`, run through Prefect (issue 13 part 1).

As a deployment runs it: `champion=true` is the deployment's default, and `challenger=true`
wins over it. Over the params' quality floor the version takes the challenger alias and the
champion stays; below it the version gets no alias, and the run's log says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sentiment_mlops import registry
from sentiment_mlops.flows.deployment import DEFAULT_PARAMETERS
from sentiment_mlops.flows.types import TrainingResult
from sentiment_mlops.settings import Settings, get_settings
from tests.flows.conftest import ChampionStore, copied, copy_store, run_flow_in
from tests.flows.prefect_reads import task_run_states
from tests.support.run_log import run_log

if TYPE_CHECKING:  # Prefect is imported where a flow runs, not by each worker's collection
    from prefect.states import State


def _aliases(settings: Settings) -> dict[str, str]:
    client = registry.make_client(settings)
    model = client.get_registered_model(settings.model_name)
    return {alias: str(version) for alias, version in model.aliases.items()}


@dataclass(frozen=True)
class NominatedStore:
    """A copy of `weak_champion_template`'s store where one run as a deployment runs it with
    `challenger=true` registered a version and nominated it."""

    folder: Path
    champion: TrainingResult  # the champion's run
    state: State  # the challenger run's final state


@pytest.fixture(scope="module")
def nominated_template(
    tmp_path_factory: pytest.TempPathFactory, weak_champion_template: ChampionStore
) -> NominatedStore:
    """That run, once: both tests of a nominated challenger start from it."""
    folder = tmp_path_factory.mktemp("nominated")
    copy_store(weak_champion_template.folder, folder)
    state = run_flow_in(folder, **DEFAULT_PARAMETERS, challenger=True)
    return NominatedStore(folder, weak_champion_template.first, state)


@pytest.fixture
def nominated(
    store_env: dict[str, str], nominated_template: NominatedStore, tmp_path: Path
) -> NominatedStore:
    """`store_env` holding a copy of `nominated_template`'s store."""
    return copied(nominated_template, tmp_path)


def test_a_challenger_over_the_floor_takes_the_alias_and_leaves_the_champion(
    nominated: NominatedStore,
) -> None:
    settings = get_settings()
    champion = nominated.champion
    assert champion.became_champion is True

    state = nominated.state  # training_flow(**DEFAULT_PARAMETERS, challenger=True)

    assert state.is_completed(), state.message
    result = state.result()
    decision = result.challenger
    assert decision is not None and decision.nominated is True
    assert decision.version == result.version != champion.version
    assert decision.metric == settings.champion_metric
    assert decision.score == result.metrics[settings.champion_metric] >= decision.floor
    assert result.promotion is None  # no champion comparison: `champion` gave way
    assert _aliases(settings) == {"champion": champion.version, "challenger": result.version}
    tasks = task_run_states(state.state_details.flow_run_id)
    assert tasks["set-challenger-alias"] == "COMPLETED"
    assert "compare-and-promote" not in tasks


def test_a_challenger_below_the_floor_gets_no_alias_and_the_log_says_why(
    nominated: NominatedStore, write_params
) -> None:
    from sentiment_mlops.flows.training import training_flow

    settings = get_settings()
    champion = nominated.champion
    nominated_run = nominated.state.result()  # a challenger over the floor, nominated
    strict = write_params("strict", challenger={"quality_floor": 0.99})

    state = training_flow(params_path=str(strict), challenger=True, return_state=True)

    assert state.is_completed(), state.message
    result = state.result()
    decision = result.challenger
    assert decision is not None and decision.nominated is False
    assert decision.floor == 0.99 > decision.score
    # The version is registered; the aliases are where they were.
    assert result.version not in {champion.version, nominated_run.version}
    assert _aliases(settings) == {
        "champion": champion.version,
        "challenger": nominated_run.version,
    }
    log = "\n".join(run_log(state.state_details.flow_run_id))
    assert (
        f"challenger decision: v{result.version} below the quality floor, not nominated "
        f"({decision.metric}={decision.score:.4f}, floor 0.9900)"
    ) in log


def test_challenger_is_in_the_deployments_parameter_schema() -> None:
    """The schema a deployment of `training_flow` gets (what the UI and `-p` accept); the stack's
    deployment is checked in tests/stack/test_deployment.py."""
    from prefect.utilities.callables import parameter_schema

    from sentiment_mlops.flows.training import training_flow

    schema = parameter_schema(training_flow).model_dump()["properties"]
    assert schema["challenger"]["type"] == "boolean"
    assert schema["challenger"]["default"] is False
    assert "challenger" not in DEFAULT_PARAMETERS  # a run asks for it: `-p challenger=true`
