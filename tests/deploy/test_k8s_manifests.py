"""deploy/k8s renders with `kubectl kustomize` and every object is valid Kubernetes, offline.

Schemas: kubernetes-validate (PyPI) bundles the JSON schemas generated from each Kubernetes
release's OpenAPI document and validates with jsonschema, in-process and without a network or a
cluster. Strict mode also refuses a field the schema does not know, which is how a misspelt or
misplaced field (silently dropped by a real API server) shows. The training Job the Prefect
worker would create from the base job template is checked as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.k8s import (
    KUBERNETES_VERSION,
    OVERLAYS,
    broken_copy,
    kubectl,
    render_with_job,
    rendered,
)
from tests.deploy.tools import run


def schema_problems(objects: list[dict[str, Any]]) -> list[str]:
    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = f"{obj['kind']}/{obj['metadata'].get('name')}"
            problems.append(f"{where}: {error.message} at {'.'.join(map(str, error.path))}")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_the_whole_system(overlay: str) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in rendered(overlay)}
    for name in ("sentiment-api", "mlflow", "prefect-server", "prefect-worker"):
        assert ("Deployment", name) in kinds
    assert ("HorizontalPodAutoscaler", "sentiment-api") in kinds
    assert ("PodDisruptionBudget", "sentiment-api") in kinds
    assert ("Job", "run-0") in kinds  # the training Job, from the base job template
    namespaces = {o["metadata"].get("namespace") for o in rendered(overlay)}
    assert namespaces == {None, "sentiment-mlops"}  # None: the Namespace itself
    stores = {"postgres", "minio"} & {name for _kind, name in kinds}
    assert stores == ({"postgres", "minio"} if overlay == "dev" else set())


def test_render_fails_on_a_broken_kustomization(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path, "base/kustomization.yaml", "  - api.yaml\n", "  - apis.yaml\n")
    result = run([kubectl(), "kustomize", str(copy / "overlays" / "dev")])
    assert result.returncode != 0
    assert "apis.yaml" in result.stderr


@pytest.mark.slow  # Kubernetes' schemas: over a second of CPU
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_matches_the_kubernetes_schemas(overlay: str) -> None:
    assert schema_problems(rendered(overlay)) == []


@pytest.mark.slow  # Kubernetes' schemas: over a second of CPU
def test_schema_check_catches_a_misplaced_field(tmp_path: Path) -> None:
    # A probe one level too high: kubectl would drop it with a warning, the API server ignore it.
    copy = broken_copy(
        tmp_path,
        "base/api.yaml",
        "      automountServiceAccountToken: false\n",
        "      automountServiceAccountToken: false\n      readinessProbe: {}\n",
    )
    problems = schema_problems(render_with_job(copy / "overlays" / "prod"))
    assert len(problems) == 1
    assert "readinessProbe" in problems[0]
