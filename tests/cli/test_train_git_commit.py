"""`sentiment train` reads the code's git commit once and tags both the run and the version."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sentiment_mlops import registry
from sentiment_mlops.settings import Settings
from tests.support.cli import sentiment

pytestmark = pytest.mark.slow


def _counting_git(folder: Path, calls: Path) -> Path:
    """A `git` first on PATH that appends its arguments to `calls`, then runs the real git."""
    real = shutil.which("git")
    assert real, "git is needed to read the commit"
    folder.mkdir()
    script = folder / "git"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\nexec "{real}" "$@"\n')
    script.chmod(0o755)
    return folder


def test_the_commit_is_read_once_per_run(
    migrated_store_env: dict[str, str], tmp_path: Path
) -> None:
    calls = tmp_path / "git-calls.txt"
    shim = _counting_git(tmp_path / "bin", calls)
    path = f"{shim}:{os.environ['PATH']}"
    result = sentiment(
        "train", "--no-prefect", env=migrated_store_env | {"PATH": path}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr

    reads = [line for line in calls.read_text().splitlines() if line == "rev-parse HEAD"]
    assert len(reads) == 1, calls.read_text()
    client = registry.make_client(
        Settings(mlflow_tracking_uri=migrated_store_env["MLFLOW_TRACKING_URI"])
    )
    version = registry.get_version(client, "sentiment-classifier", "1")
    run_tags = client.get_run(version.run_id).data.tags
    assert version.tags.get("git_commit") == run_tags.get("git_commit") == registry.git_commit()
