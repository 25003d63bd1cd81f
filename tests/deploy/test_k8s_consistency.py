"""The rendered Kubernetes objects agree with the settings, the Dockerfiles, the API's routes
and each other (rules in tests/deploy/k8s_checks.py); one planted break shows the checks can fail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import k8s_checks as checks
from tests.deploy.k8s import OVERLAYS, broken_copy, find, render_with_job, rendered
from tests.deploy.test_compose import ALIAS_FIELDS, ROLLOUT_FIELDS, configured_as_default

Check = Callable[[list[dict[str, Any]]], list[str]]


def _probes(objects: list[dict[str, Any]]) -> list[str]:
    return checks.probe_problems(objects, checks.api_routes())


def _fanout(objects: list[dict[str, Any]]) -> list[str]:
    return checks.fanout_problems(objects, checks.api_routes("post"))


CHECKS: dict[str, Check] = {
    "env": checks.env_problems,
    "references": checks.reference_problems,
    "images": checks.image_problems,
    "probes": _probes,
    "ports": checks.port_problems,
    "worker": checks.worker_problems,
    "fanout": _fanout,
}


def test_the_api_probes_routes_that_exist() -> None:
    assert {"/health", "/health/live"} <= checks.api_routes()


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("rule", CHECKS)
def test_rule_holds(rule: str, overlay: str) -> None:
    assert CHECKS[rule](rendered(overlay)) == []


def test_the_env_rule_catches_a_planted_misspelt_variable(tmp_path: Path) -> None:
    """One planted break for all the rules: more would test our checks, not the manifests."""
    old, new = "MLFLOW_DISABLE_TELEMETRY:", "MLFLOW_DISABLE_TELEMETRYS:"
    copy = broken_copy(tmp_path, "base/config.yaml", old, new)
    problems = checks.env_problems(render_with_job(copy / "overlays" / "prod"))
    assert len(problems) == 1, problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_rollout_settings_reach_the_api_and_the_aliases_every_training_pod(
    overlay: str,
) -> None:
    """Set in the base ConfigMaps with the settings' defaults (a misspelt key is caught by the
    `env` rule): the API's for the rollout, the common one for the aliases."""
    objects = rendered(overlay)
    api = find(objects, "ConfigMap", "sentiment-api")["data"]
    common = find(objects, "ConfigMap", "sentiment-common")["data"]
    assert configured_as_default(ROLLOUT_FIELDS, api | common) == []
    assert configured_as_default(ALIAS_FIELDS, common) == []
