"""Start a retraining when a drift check calls for it, at most one at a time.

With a Prefect server (`PREFECT_API_URL`, the stack and compose) the check starts a run of the
training deployment (`TRAINING_DEPLOYMENT`) with `champion=true`, so the champion gate still
decides, unless a run of that deployment is already scheduled, pending or running. Embedded,
the training flow runs in this process. Either way the start happens under the lock
`monitoring-retraining`, taken without waiting: a second check meanwhile skips, and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sentiment_mlops.errors import USER_ERRORS
from sentiment_mlops.flows.promotion_lock import RETRAIN_LIMIT_NAME, try_lock
from sentiment_mlops.monitoring.rules import Decision
from sentiment_mlops.settings import Settings

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

logger = logging.getLogger(__name__)

_ACTIVE_STATES = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED")


@dataclass(frozen=True)
class Retraining:
    """What the check did about retraining, in words, and the run it started, if any."""

    started: bool
    detail: str
    flow_run_id: str | None = None


def retrain_if_due(settings: Settings, decision: Decision, enabled: bool) -> Retraining:
    """Start one retraining when `decision` says so and retraining is `enabled`."""
    if not decision.retrain:
        return Retraining(False, "no retraining needed")
    if not enabled:
        return Retraining(False, "retraining is due but not enabled (--retrain-on-drift)")
    with try_lock(settings, RETRAIN_LIMIT_NAME) as held:
        if not held:
            return Retraining(False, "another check is starting a retraining: skipped")
        if settings.prefect_api_url:
            return _start_deployment(settings)
        return _train_here()


def _start_deployment(settings: Settings) -> Retraining:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    name = settings.training_deployment
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            return Retraining(False, f"retraining is due but deployment {name!r} does not exist")
        active = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType(s) for s in _ACTIVE_STATES])
                )
            ),
            limit=1,
        )
    if active:
        busy = active[0]
        return Retraining(False, f"a training run is already in flight: {busy.name} ({busy.id})")
    # Called from sync code, Prefect's dual sync/async function returns the run itself.
    run = cast(
        "FlowRun",
        run_deployment(
            name, parameters={"champion": True}, timeout=0, tags=["triggered-by-monitoring"]
        ),
    )
    return Retraining(True, f"started {name} run {run.name} ({run.id})", flow_run_id=str(run.id))


def _train_here() -> Retraining:
    from sentiment_mlops.flows.training import training_flow

    try:
        result = training_flow(champion=True)
    except USER_ERRORS as error:
        return Retraining(False, f"retraining failed: {error}")
    # A dict here; a TrainingResult once the flows' typed results (issue 11 item 5) land.
    if isinstance(result, dict):
        version, promoted = result.get("version"), bool(result.get("became_champion"))
    else:
        version, promoted = result.version, result.became_champion
    outcome = "promoted" if promoted else "not promoted"
    return Retraining(True, f"trained version {version} ({outcome})")
