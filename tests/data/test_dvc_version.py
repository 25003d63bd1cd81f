"""`data_version`: the md5 that DVC recorded for a data file, read from real DVC metadata."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
import yaml

from sentiment_mlops.dvc_version import data_version
from tests.data.helpers import RunDvc, git


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def dvc_repo(tmp_path: Path, run_dvc: RunDvc) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    run_dvc(repo, "init", "-q")
    (repo / "data").mkdir()
    return repo


@pytest.mark.slow  # runs the DVC CLI
def test_version_comes_from_the_dvc_file_of_dvc_add(dvc_repo: Path, run_dvc: RunDvc) -> None:
    data = dvc_repo / "data" / "reviews.csv"
    data.write_text("text,label\ngood,1\nbad,0\n", encoding="utf-8")
    run_dvc(dvc_repo, "add", "data/reviews.csv")
    recorded = yaml.safe_load((dvc_repo / "data" / "reviews.csv.dvc").read_text())["outs"][0]

    assert data_version(data) == recorded["md5"] == _md5(data)


@pytest.mark.slow  # runs the DVC CLI
def test_version_comes_from_dvc_lock_of_the_producing_stage(
    dvc_repo: Path, run_dvc: RunDvc, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = "import pathlib; pathlib.Path('data/made.csv').write_text('text,label\\nok,1\\n')"
    run_dvc(
        dvc_repo, "stage", "add", "-n", "make", "-o", "data/made.csv",
        f'"{sys.executable}" -c "{script}"',
    )  # fmt: skip
    run_dvc(dvc_repo, "repro")
    lock = yaml.safe_load((dvc_repo / "dvc.lock").read_text())
    recorded = lock["stages"]["make"]["outs"][0]["md5"]
    data = dvc_repo / "data" / "made.csv"

    assert data_version(data) == recorded == _md5(data)
    monkeypatch.chdir(dvc_repo / "data")
    assert data_version(Path("made.csv")) == recorded
    assert data_version(Path("../data/./made.csv")) == recorded


@pytest.mark.slow  # runs the DVC CLI
def test_changed_file_has_no_version(dvc_repo: Path, run_dvc: RunDvc) -> None:
    data = dvc_repo / "data" / "reviews.csv"
    data.write_text("text,label\ngood,1\n", encoding="utf-8")
    run_dvc(dvc_repo, "add", "data/reviews.csv")

    data.write_text("text,label\ngood,1\nedited,0\n", encoding="utf-8")

    assert data_version(data) is None


@pytest.mark.slow  # runs the DVC CLI
def test_untracked_or_missing_file_has_no_version(dvc_repo: Path) -> None:
    untracked = dvc_repo / "data" / "other.csv"
    untracked.write_text("text,label\n", encoding="utf-8")

    assert data_version(untracked) is None
    assert data_version(dvc_repo / "data" / "missing.csv") is None


def test_unreadable_metadata_means_no_version(tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    data.write_text("a\n", encoding="utf-8")
    (tmp_path / "x.csv.dvc").write_text(": not yaml [", encoding="utf-8")
    (tmp_path / "dvc.lock").write_text("- a list, not a mapping\n", encoding="utf-8")

    assert data_version(data) is None
