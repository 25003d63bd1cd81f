"""The worker's init steps, as the prod overlay renders them, against a real Prefect server:
they create the Kubernetes work pool from the base job template with the training image, and
register the training deployment on it; the worker's code then builds the Job from both.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.deploy.k8s import WORK_POOL, find, pod_spec, rendered, work_pool_args
from tests.deploy.tools import REPO, output, run
from tests.support.processes import ServerProcess, free_port, http_ok

pytestmark = pytest.mark.slow  # a Prefect server start and two CLI runs: 1-2 min here


def _steps() -> dict[str, dict]:
    worker = find(rendered("prod"), "Deployment", "prefect-worker")
    return {c["name"]: c for c in pod_spec(worker)["initContainers"]}


def test_init_steps_make_the_pool_and_deployment_the_worker_runs(tmp_path: Path) -> None:
    objects = rendered("prod")
    steps = _steps()
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": None}
    command = [sys.executable, "-m", "prefect", "server", "start", "--port", str(port)]
    with ServerProcess(command, env, tmp_path / "prefect.log", cwd=tmp_path) as server:
        server.wait_ready(http_ok(f"{api}/health"), 120, "the Prefect server")
        client_env = {
            **os.environ,
            "PREFECT_HOME": str(tmp_path / "client"),
            "PREFECT_API_URL": api,
        }

        # create-work-pool: its script, with the ConfigMap mounted where it reads it.
        template = tmp_path / "base-job-template.json"
        maps = [o for o in objects if o["metadata"]["name"].startswith("prefect-base-job-template")]
        template.write_text(maps[0]["data"]["base-job-template.json"])
        script = steps["create-work-pool"]["command"][2]
        script = script.replace("/etc/prefect/base-job-template.json", str(template))
        script = script.replace("/tmp/base-job-template.json", str(tmp_path / "filled.json"))
        created = run(
            [sys.executable, "-c", script, *steps["create-work-pool"]["args"]], env=client_env
        )
        assert created.returncode == 0, output(created)

        # register-deployment: the training image's command, its /app being this project.
        register = [
            word.replace("/app", str(REPO)) for word in steps["register-deployment"]["command"]
        ]
        registered = run([sys.executable, *register[1:]], env=client_env)
        assert registered.returncode == 0, output(registered)

        job = asyncio.run(_job_for_a_run(api))
    _pool, image, namespace = work_pool_args(objects)
    assert image == "registry.example.com/sentiment-mlops/training:0.1.0"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image
    assert job["metadata"]["namespace"] == namespace
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "training-job"
    assert (
        job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        == "training-job"
    )


async def _job_for_a_run(api: str) -> dict:
    """The Job manifest the worker would submit for a run of the deployment."""
    from prefect.client.orchestration import PrefectClient
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    async with PrefectClient(api) as client:
        deployment = await client.read_deployment_by_name("sentiment-training/kubernetes")
        assert deployment.work_pool_name == WORK_POOL
        pool = await client.read_work_pool(WORK_POOL)
        assert pool.type == "kubernetes"
        configuration = await KubernetesWorkerJobConfiguration.from_template_and_values(
            pool.base_job_template, deployment.job_variables or {}, client=client
        )
    job: dict = configuration.job_manifest
    return job
