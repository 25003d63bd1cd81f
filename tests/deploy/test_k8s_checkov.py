"""checkov finds nothing to fix in the rendered manifests, and every check it skips says why.

checkov runs from its own locked environment (tools/checkov: it pins `packaging<24`, which the
project cannot share), once for the module: both overlays (with the training Job the worker
creates) and a copy with a planted weakness, in one process, as its start-up takes ~15 s.
A skip is a `checkov.io/skipN: CHECK_ID=reason` annotation on the object it concerns.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.k8s import K8S_DIR, OVERLAYS, broken_copy, render_with_job, rendered
from tests.deploy.tools import REPO, in_ci, output, run

CHECKOV_PROJECT = REPO / "tools" / "checkov"
SKIP = re.compile(r"checkov\.io/skip\d+")
# A planted weakness: the API may write to its root filesystem (CKV_K8S_22).
WEAKENED = ("base/api.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")

# checkov's own start-up and scan are ~15 s of CPU, a tenth of the quick set, for files that
# change rarely (deploy/k8s); the manifests' schema and consistency checks stay quick.
pytestmark = pytest.mark.slow


def _checkov(files: list[Path]) -> dict[str, Any]:
    """checkov's JSON report over `files`, offline (`--skip-download`: no policy metadata)."""
    command = ["uv", "run", "--project", str(CHECKOV_PROJECT), "--frozen", "--quiet", "checkov"]
    for path in files:
        command += ["-f", str(path)]
    command += ["--framework", "kubernetes", "--skip-download", "--output", "json"]
    result = run(command)
    if "No such file" in result.stderr or "Failed to spawn" in result.stderr:
        message = f"checkov is not installed: uv sync --project {CHECKOV_PROJECT} --frozen"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    # Exit 1 means failed checks, which the tests read from the report.
    assert result.returncode in (0, 1), output(result)
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[dict]]]:
    """Failed and skipped checks, per scanned file stem (each overlay, and `weakened`)."""
    folder = tmp_path_factory.mktemp("checkov")
    sources = {overlay: K8S_DIR / "overlays" / overlay for overlay in OVERLAYS}
    sources["weakened"] = broken_copy(folder, *WEAKENED) / "overlays" / "prod"
    files = []
    for name, source in sources.items():
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump_all(render_with_job(source)), encoding="utf-8")
        files.append(path)
    results = _checkov(files)["results"]
    return {
        name: {
            kind: [c for c in results[f"{kind}_checks"] if Path(c["file_path"]).stem == name]
            for kind in ("failed", "skipped", "passed")
        }
        for name in sources
    }


def skip_problems(objects: list[dict[str, Any]]) -> list[str]:
    """checkov skip annotations without a check id and a reason of a few words."""
    problems = []
    for obj in objects:
        for key, value in (obj["metadata"].get("annotations") or {}).items():
            if not SKIP.fullmatch(key):
                continue
            check, _, reason = str(value).partition("=")
            if not re.fullmatch(r"CKV2?_K8S_\d+", check) or len(reason.split()) < 4:
                problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {key}: {value!r}")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_finds_nothing(findings: dict, overlay: str) -> None:
    failed = [f"{c['check_id']} {c['resource']}" for c in findings[overlay]["failed"]]
    assert failed == []
    assert len(findings[overlay]["passed"]) > 300  # it did scan the objects


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_skip_is_one_of_ours_with_a_reason(findings: dict, overlay: str) -> None:
    skipped = findings[overlay]["skipped"]
    assert skipped, "no skip seen: did checkov read the annotations?"
    assert all(len(c["check_result"]["suppress_comment"].split()) >= 4 for c in skipped), skipped
    assert skip_problems(rendered(overlay)) == []


def test_checkov_catches_a_writable_root_filesystem(findings: dict) -> None:
    failed = [(c["check_id"], c["resource"]) for c in findings["weakened"]["failed"]]
    assert failed == [("CKV_K8S_22", "Deployment.sentiment-mlops.sentiment-api")]
