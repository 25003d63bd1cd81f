"""Fixtures for the data tests: reviews, aclImdb-shaped folders and archives, a DVC runner."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from tests.data.helpers import RunDvc, project_env, write_aclimdb, written_reviews
from tests.support.paths import DEMO_DATA
from tests.support.seaweed import seaweed_s3  # noqa: F401  (a fixture, used by name)


@pytest.fixture(scope="session")
def reviews() -> pd.DataFrame:
    """Labelled reviews (text, label 0/1): the committed demo set, or written ones."""
    if DEMO_DATA.is_file():
        frame = pd.read_csv(DEMO_DATA)[["text", "label"]].drop_duplicates("text")
        return frame.astype({"text": str, "label": int}).reset_index(drop=True)
    return written_reviews()


@pytest.fixture(scope="session")
def aclimdb_folder(reviews: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unpacked aclImdb folder made from the reviews; returns the `aclImdb` folder."""
    return write_aclimdb(reviews, tmp_path_factory.mktemp("aclimdb"))


@pytest.fixture(scope="session")
def aclimdb_tarball(aclimdb_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`aclImdb_v1.tar.gz` with the same content as `aclimdb_folder`."""
    path = tmp_path_factory.mktemp("archive") / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        archive.add(aclimdb_folder, arcname="aclImdb")
    return path


@pytest.fixture
def run_dvc() -> RunDvc:
    """Run the real DVC CLI in a folder; fails the test with DVC's output on a non-zero exit."""

    def run(
        cwd: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "dvc", *args],
            cwd=cwd,
            env=env or project_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"dvc {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    return run
