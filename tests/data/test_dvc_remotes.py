"""DVC remotes: push, lose the data, pull it back byte for byte, with the committed config.

Runs the real DVC CLI against the local remote and against SeaweedFS (a real S3 server process
that checks credentials). The temporary repositories start from the committed `.dvc/config`, so
the remote names and defaults that users get are the ones tested; per-machine settings go into
`.dvc/config.local`, as a user would put them.
"""

from __future__ import annotations

import configparser
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.data.helpers import RunDvc, git, project_env
from tests.support.paths import PROJECT_ROOT
from tests.support.seaweed import SeaweedS3

pytestmark = pytest.mark.slow

DVC_DIR = PROJECT_ROOT / ".dvc"


def _committed_config() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(DVC_DIR / "config")
    return parser


@pytest.fixture
def repo(tmp_path: Path, reviews: pd.DataFrame, run_dvc: RunDvc) -> Path:
    """A git repository with the committed DVC config and a tracked `data/imdb_sample.csv`."""
    repo = tmp_path / "repo"
    (repo / ".dvc").mkdir(parents=True)
    for name in ("config", ".gitignore"):
        shutil.copy(DVC_DIR / name, repo / ".dvc" / name)
    shutil.copy(PROJECT_ROOT / ".dvcignore", repo / ".dvcignore")
    git(repo, "init", "-q")
    (repo / "data").mkdir()
    reviews.sample(frac=1.0, random_state=0).to_csv(repo / "data" / "imdb_sample.csv", index=False)
    run_dvc(repo, "add", "data/imdb_sample.csv")
    return repo


def _lose_and_pull(repo: Path, run_dvc: RunDvc, *pull_args: str, env=None) -> bytes:
    """Delete the data file and the whole cache, pull, and return the bytes that came back."""
    data = repo / "data" / "imdb_sample.csv"
    original = data.read_bytes()
    data.unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    assert not data.exists()
    run_dvc(repo, "pull", *pull_args, env=env)
    pulled = data.read_bytes()
    assert pulled == original
    return pulled


# --- The committed configuration --------------------------------------------------------------


def test_committed_config_has_the_local_default_and_the_minio_remote() -> None:
    config = _committed_config()

    assert config.get("core", "remote") == "local"
    assert config.get("'remote \"minio\"'", "url") == "s3://dvc"
    local_url = config.get("'remote \"local\"'", "url")
    assert not (DVC_DIR / Path(local_url).expanduser()).resolve().is_relative_to(PROJECT_ROOT)


def test_committed_config_holds_no_credentials_or_endpoint() -> None:
    text = (DVC_DIR / "config").read_text(encoding="utf-8").lower()

    for key in ("access_key", "secret", "password", "token", "endpointurl"):
        assert key not in text
    assert "/config.local" in (DVC_DIR / ".gitignore").read_text(encoding="utf-8")


def test_data_file_is_git_ignored_and_its_dvc_file_is_not(repo: Path) -> None:
    ignored = git(repo, "check-ignore", "data/imdb_sample.csv").strip()
    assert ignored == "data/imdb_sample.csv"
    git(repo, "add", "data/imdb_sample.csv.dvc", ".dvc/config")  # fails if either were ignored


# --- Local remote -----------------------------------------------------------------------------


def test_default_local_remote_is_a_folder_in_the_users_cache(
    repo: Path, tmp_path: Path, run_dvc: RunDvc
) -> None:
    home = tmp_path / "home"  # the committed URL starts with ~: keep the real home untouched
    env = project_env(HOME=str(home))

    run_dvc(repo, "push", env=env)

    pushed = [p for p in (home / ".cache/sentiment-mlops/dvc-storage").rglob("*") if p.is_file()]
    assert len(pushed) == 1
    _lose_and_pull(repo, run_dvc, env=env)


def test_local_remote_round_trip(repo: Path, tmp_path: Path, run_dvc: RunDvc) -> None:
    storage = tmp_path / "dvc-storage"
    run_dvc(repo, "remote", "modify", "--local", "local", "url", str(storage))

    run_dvc(repo, "push")

    assert len([p for p in storage.rglob("*") if p.is_file()]) == 1
    _lose_and_pull(repo, run_dvc)


# --- S3 remote (SeaweedFS) --------------------------------------------------------------------


def _bucket_keys(server: SeaweedS3, bucket: str) -> list[str]:
    listed = server.client().list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_s3_round_trip_with_endpoint_and_credentials_from_the_environment(
    repo: Path, run_dvc: RunDvc, seaweed_s3: SeaweedS3
) -> None:
    # The compose stack's way: AWS_ENDPOINT_URL and the AWS_* keys in the environment.
    env = project_env(**seaweed_s3.env())
    bucket = "dvc-env"
    seaweed_s3.create_buckets(bucket)
    run_dvc(repo, "remote", "modify", "--local", "minio", "url", f"s3://{bucket}")

    run_dvc(repo, "push", "-r", "minio", env=env)

    md5 = (repo / "data" / "imdb_sample.csv.dvc").read_text().split("md5: ")[1].split()[0]
    assert _bucket_keys(seaweed_s3, bucket) == [f"files/md5/{md5[:2]}/{md5[2:]}"]
    _lose_and_pull(repo, run_dvc, "-r", "minio", env=env)


def test_s3_round_trip_with_settings_in_config_local(
    repo: Path, run_dvc: RunDvc, seaweed_s3: SeaweedS3
) -> None:
    # The other documented way: endpoint and keys in the git-ignored .dvc/config.local.
    bucket = "dvc-local-config"
    seaweed_s3.create_buckets(bucket)
    for option, value in [
        ("url", f"s3://{bucket}"),
        ("endpointurl", seaweed_s3.endpoint_url),
        ("access_key_id", seaweed_s3.access_key),
        ("secret_access_key", seaweed_s3.secret_key),
    ]:
        run_dvc(repo, "remote", "modify", "--local", "minio", option, value)
    assert seaweed_s3.secret_key not in (repo / ".dvc" / "config").read_text()

    run_dvc(repo, "push", "-r", "minio")

    assert len(_bucket_keys(seaweed_s3, bucket)) == 1
    _lose_and_pull(repo, run_dvc, "-r", "minio")


def test_s3_push_with_a_wrong_secret_is_refused(
    repo: Path, run_dvc: RunDvc, seaweed_s3: SeaweedS3
) -> None:
    bucket = "dvc-wrong-secret"
    seaweed_s3.create_buckets(bucket)
    run_dvc(repo, "remote", "modify", "--local", "minio", "url", f"s3://{bucket}")
    env = project_env(**(seaweed_s3.env() | {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}))

    result = run_dvc(repo, "push", "-r", "minio", env=env, check=False)

    assert result.returncode != 0
    assert re.search(r"403|Forbidden|SignatureDoesNotMatch", result.stderr), result.stderr
    assert _bucket_keys(seaweed_s3, bucket) == []
