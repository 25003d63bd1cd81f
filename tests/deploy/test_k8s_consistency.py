"""The rendered Kubernetes objects agree with the settings, the Dockerfiles, the API's routes
and each other (rules in tests/deploy/k8s_checks.py), and each rule fails on a planted break.
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


def test_network_policy_selectors_are_checked(tmp_path: Path) -> None:
    """A misspelt peer label would silently cut MLflow off from the API."""
    copy = broken_copy(
        tmp_path,
        "base/network-policies.yaml",
        "              app.kubernetes.io/name: sentiment-api\n",
        "              app.kubernetes.io/name: sentiment-apis\n",
    )
    problems = checks.port_problems(render_with_job(copy / "overlays" / "dev"))
    assert problems == [
        "NetworkPolicy mlflow-ingress: {'app.kubernetes.io/name': 'sentiment-apis'} selects no pod"
    ]


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


# Each way a new champion could miss pods: (file, text, replacement, overlay, the problem).
FANOUT_BREAKS = {
    "mlflow cannot deliver": (
        "base/network-policies.yaml",
        "  ingress:\n    - ports:\n        - port: 8000\n",
        "  ingress:\n    - from:\n        - podSelector:\n            matchLabels:\n"
        "              app.kubernetes.io/name: prefect-worker\n"
        "      ports:\n        - port: 8000\n",
        "prod",
        "MLflow may not deliver to the API on port 8000",
    ),
    "the api cannot listen": (
        "overlays/dev/postgres.yaml",
        "        - podSelector:\n            matchLabels:\n"
        "              app.kubernetes.io/name: sentiment-api\n",
        "",
        "dev",
        "the API may not reach PostgreSQL on port 5432",
    ),
    "no fan-out": (
        "base/api.yaml",
        "            - name: RELOAD_NOTIFY_URL\n",
        "            - name: RELOAD_NOTIFY_URLS\n",
        "prod",
        "the API has no RELOAD_NOTIFY_URL",
    ),
    "mlflow refuses the url": (
        "base/config.yaml",
        '  MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS: "true"\n',
        "",
        "prod",
        "MLflow refuses webhook URLs of private addresses (the Service's)",
    ),
    "mlflow caches webhook lists for a minute": (
        "base/config.yaml",
        '  MLFLOW_WEBHOOK_CACHE_TTL: "1"\n',
        "",
        "prod",
        "MLflow caches webhook lists for 60 s (MLFLOW_WEBHOOK_CACHE_TTL is not set)",
    ),
    "the registrar cannot reach mlflow": (
        "base/network-policies.yaml",
        "              app.kubernetes.io/name: sentiment-api-webhook\n",
        "              app.kubernetes.io/name: sentiment-api\n",
        "prod",
        "Job/sentiment-api-webhook/register may not reach MLflow",
    ),
}


@pytest.mark.parametrize("name", FANOUT_BREAKS)
def test_the_fanout_check_catches(name: str, tmp_path: Path) -> None:
    relative, old, new, overlay, problem = FANOUT_BREAKS[name]
    copy = broken_copy(tmp_path, relative, old, new)
    assert problem in _fanout(render_with_job(copy / "overlays" / overlay))
