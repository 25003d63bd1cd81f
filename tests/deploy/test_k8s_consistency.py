"""The rendered Kubernetes objects agree with the settings, the Dockerfiles, the API's routes
and each other (rules in tests/deploy/k8s_checks.py), and each rule fails on one planted break.
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
# One break per rule: (file under deploy/k8s, text, replacement, overlay rendered).
BREAKS: dict[str, tuple[str, str, str, str]] = {
    "env": ("base/config.yaml", "MLFLOW_DISABLE_TELEMETRY:", "MLFLOW_DISABLE_TELEMETRYS:", "prod"),
    "references": (
        "base/prefect-worker.yaml",
        "name: prefect-base-job-template",
        "name: job-template",
        "prod",
    ),
    "images": (
        "overlays/prod/kustomization.yaml",
        'sentiment-mlops/training\n    newTag: "0.1.0"',
        'sentiment-mlops/training\n    newTag: "0.2.0"',
        "prod",
    ),
    "probes": ("base/api.yaml", "path: /health\n", "path: /healthz\n", "dev"),
    "ports": ("base/api.yaml", "targetPort: http", "targetPort: 8080", "dev"),
    "worker": (
        "base/prefect-worker.yaml",
        "--pool\n            - sentiment-kubernetes",
        "--pool\n            - sentiment",
        "dev",
    ),
    "fanout": (
        "base/config.yaml",
        "WEBHOOK_URL: http://sentiment-api:8000/",
        "WEBHOOK_URL: http://sentiment-api:8080/",
        "prod",
    ),
}


def test_the_api_probes_routes_that_exist() -> None:
    assert {"/health", "/health/live"} <= checks.api_routes()


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("rule", CHECKS)
def test_rule_holds(rule: str, overlay: str) -> None:
    assert CHECKS[rule](rendered(overlay)) == []


@pytest.mark.parametrize("rule", CHECKS)
def test_rule_catches_its_planted_break(rule: str, tmp_path: Path) -> None:
    relative, old, new, overlay = BREAKS[rule]
    copy = broken_copy(tmp_path, relative, old, new)
    problems = CHECKS[rule](render_with_job(copy / "overlays" / overlay))
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
