"""DVC against the stack's S3 server: push to the `minio` remote (bucket `dvc`), lose the data,
pull it back byte for byte. The endpoint goes into `.dvc/config.local` as the README says and the
keys come from the environment, as `source .stack/env` provides them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data.helpers import git, project_env
from tests.stack.helpers import RunningStack, output
from tests.support.paths import DEMO_DATA, PROJECT_ROOT

pytestmark = pytest.mark.stack


def _dvc(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"dvc {' '.join(args)}: {output(result)}"
    return result


def test_dvc_push_and_pull_round_trip_through_the_stack_s3(
    stack: RunningStack, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    (repo / ".dvc").mkdir(parents=True)
    for name in ("config", ".gitignore"):
        shutil.copy(PROJECT_ROOT / ".dvc" / name, repo / ".dvc" / name)
    shutil.copy(PROJECT_ROOT / ".dvcignore", repo / ".dvcignore")
    git(repo, "init", "-q")
    data = repo / "data" / "imdb_sample.csv"
    data.parent.mkdir()
    shutil.copy(DEMO_DATA, data)
    keys = {k: v for k, v in stack.s3_env().items() if k != "AWS_ENDPOINT_URL"}
    env = project_env(**keys)
    _dvc(repo, "add", "data/imdb_sample.csv", env=env)
    _dvc(repo, "remote", "modify", "--local", "minio", "endpointurl", stack.s3_url, env=env)

    _dvc(repo, "push", "-r", "minio", env=env)

    md5 = (repo / "data" / "imdb_sample.csv.dvc").read_text().split("md5: ")[1].split()[0]
    assert f"files/md5/{md5[:2]}/{md5[2:]}" in stack.bucket_keys("dvc")
    original = data.read_bytes()
    data.unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    _dvc(repo, "pull", "-r", "minio", env=env)
    assert data.read_bytes() == original
