"""`dvc repro` in a fresh copy of the project: prepare + train, then a no-op, then train only.

The copy holds what a clone would (tracked and not-ignored files), with `params.yaml` pointed at
the local demo reviews, because the committed default (`prepare.source: hf`) needs the network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from sentiment_mlops.dvc_version import data_version
from tests.data.helpers import RunDvc, git, project_env, written_reviews
from tests.support.paths import PROJECT_ROOT
from tests.support.seaweed import SeaweedS3

pytestmark = pytest.mark.slow


def _train_cli_missing() -> str | None:
    """Why the pipeline cannot run yet, or None: `train` must know --metrics-file."""
    sentiment = shutil.which("sentiment", path=project_env()["PATH"])
    if sentiment is None:
        return "the `sentiment` console script is not installed"
    result = subprocess.run(
        [sentiment, "train", "--help"], capture_output=True, text=True, env=project_env()
    )
    if result.returncode != 0 or "--metrics-file" not in result.stdout:
        return "`sentiment train --help` lists no --metrics-file option yet (lead's train CLI)"
    return None


def _fresh_copy(dest: Path) -> Path:
    """Copy the files a clone would have (tracked + untracked-but-not-ignored), then commit."""
    listed = git(PROJECT_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    demo = dest / "data" / "demo_reviews.csv"
    if not demo.exists():
        written_reviews().to_csv(demo, index=False)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "fresh clone")
    return dest


def _set_params(repo: Path, **sections: dict[str, object]) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    for section, values in sections.items():
        params[section] = {**params[section], **values}
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo = _fresh_copy(tmp_path / "clone")
    state = tmp_path / "state"  # MLflow and Prefect state stay out of the copy
    env = project_env(
        MLFLOW_TRACKING_URI=f"sqlite:///{state / 'mlflow.db'}",
        ARTIFACT_LOCATION=str(state / "mlartifacts"),
        PREFECT_HOME=str(state / "prefect"),
        HF_ENDPOINT="http://127.0.0.1:9",  # never the real hub, even on a machine with network
        HF_HOME=str(state / "hf"),
        # Run the copy's own code, as in a clone: Python then writes bytecode into the copy's
        # src/, which the train stage depends on (and .dvcignore must keep out of its hash).
        PYTHONPATH=str(repo / "src"),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    state.mkdir()
    return repo, env


def _ran(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [s for s in ("prepare", "train") if f"Running stage '{s}'" in result.stdout]


def test_repro_runs_both_stages_then_nothing_then_only_train(
    project: tuple[Path, dict[str, str]], run_dvc: RunDvc
) -> None:
    reason = _train_cli_missing()
    if reason:
        pytest.skip(reason)
    repo, env = project
    _set_params(repo, prepare={"source": "csv", "from": "data/demo_reviews.csv", "samples": 200})
    git(repo, "commit", "-q", "-am", "offline params")

    first = run_dvc(repo, "repro", env=env)

    assert _ran(first) == ["prepare", "train"], first.stdout
    metrics = json.loads((repo / "metrics.json").read_text())
    assert metrics and all(isinstance(v, int | float) for v in metrics.values())
    sample = pd.read_csv(repo / "data" / "imdb_sample.csv")
    assert list(sample.columns) == ["text", "label"]
    assert sample["label"].value_counts().to_dict() == {0: 100, 1: 100}
    assert list(pd.read_csv(repo / "plots" / "roc_curve.csv").columns[:2]) == ["fpr", "tpr"]
    assert {"actual", "predicted"} <= set(pd.read_csv(repo / "plots" / "predictions.csv"))
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    [out] = lock["stages"]["prepare"]["outs"]
    assert data_version(repo / "data" / "imdb_sample.csv") == out["md5"]
    # The MLflow run of the train stage points back at exactly this data version.
    tracking = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    [run] = tracking.search_runs(
        [tracking.get_experiment_by_name("sentiment-classifier").experiment_id]
    )
    assert run.data.tags["data_dvc_md5"] == out["md5"]
    metrics_mtime = (repo / "metrics.json").stat().st_mtime_ns
    assert list((repo / "src").rglob("__pycache__")), "the copy's code did not run"
    # Running any other code (the API, the tests) writes more bytecode: still not a change.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(repo / "src")], check=True)

    second = run_dvc(repo, "repro", env=env)

    assert _ran(second) == [], second.stdout
    assert json.loads(run_dvc(repo, "status", "--json", env=env).stdout) == {}
    assert (repo / "metrics.json").stat().st_mtime_ns == metrics_mtime

    old_c = yaml.safe_load((repo / "params.yaml").read_text())["model"]["C"]
    new_c = old_c / 2
    _set_params(repo, model={"C": new_c})
    status = json.loads(run_dvc(repo, "status", "--json", env=env).stdout)
    assert set(status) == {"train"}, status

    third = run_dvc(repo, "repro", env=env)

    assert _ran(third) == ["train"], third.stdout
    params_diff = json.loads(run_dvc(repo, "params", "diff", "--json", env=env).stdout)
    changed = params_diff["params.yaml"]["model.C"]
    assert (changed["old"], changed["new"]) == (old_c, new_c)
    shown = json.loads(run_dvc(repo, "metrics", "show", "--json", env=env).stdout)
    assert "metrics.json" in json.dumps(shown)


def test_repro_with_the_hub_unreachable_fails_with_the_hint_and_writes_nothing(
    project: tuple[Path, dict[str, str]], run_dvc: RunDvc
) -> None:
    repo, env = project
    _set_params(repo, prepare={"source": "hf", "from": ""})

    result = run_dvc(repo, "repro", "prepare", env=env, check=False)

    assert result.returncode != 0
    assert "--source csv --from" in result.stdout + result.stderr
    assert not (repo / "data" / "imdb_sample.csv").exists()
    assert not (repo / "dvc.lock").exists()


# --- Offline, with data the user prepared by hand -----------------------------------------------


def _offline(env: dict[str, str]) -> dict[str, str]:
    return env | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def test_repro_offline_after_a_csv_prepare_keeps_the_file_and_push_then_sends_it(
    project: tuple[Path, dict[str, str]], run_dvc: RunDvc, tmp_path: Path, seaweed_s3: SeaweedS3
) -> None:
    # The README's offline order: prepare from a local file, `dvc repro`, `dvc push`; the
    # committed params.yaml names the hub, which is out of reach.
    reason = _train_cli_missing()
    if reason:
        pytest.skip(reason)
    repo, env = project
    env = _offline(env)
    mine = tmp_path / "my_reviews.csv"
    written_reviews().to_csv(mine, index=False)
    prepare = subprocess.run(
        ["sentiment", "data", "prepare", "--source", "csv", "--from", str(mine), "--samples", "60"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert prepare.returncode == 0, prepare.stderr
    data = repo / "data" / "imdb_sample.csv"
    prepared = data.read_bytes()

    repro = run_dvc(repo, "repro", env=env, check=False)

    assert data.read_bytes() == prepared
    assert repro.returncode == 0, repro.stdout + repro.stderr
    assert _ran(repro) == ["prepare", "train"], repro.stdout
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    [out] = lock["stages"]["prepare"]["outs"]
    assert out["md5"] == data_version(data)
    assert lock["stages"]["prepare"]["params"]["params.yaml"]["prepare"]["source"] == "csv"
    storage = tmp_path / "dvc-storage"
    run_dvc(repo, "remote", "modify", "--local", "local", "url", str(storage), env=env)

    run_dvc(repo, "push", env=env)

    md5 = out["md5"]
    assert (storage / "files" / "md5" / md5[:2] / md5[2:]).read_bytes() == prepared

    # The stack's remote, as `source .stack/env` sets it up: `dvc push -r minio`.
    seaweed_s3.create_buckets("dvc-offline")
    run_dvc(repo, "remote", "modify", "--local", "minio", "url", "s3://dvc-offline", env=env)
    run_dvc(repo, "push", "-r", "minio", env=env | seaweed_s3.env())

    pushed = seaweed_s3.client().get_object(
        Bucket="dvc-offline", Key=f"files/md5/{md5[:2]}/{md5[2:]}"
    )
    assert pushed["Body"].read() == prepared


def test_repro_offline_with_the_hub_in_params_keeps_an_existing_file(
    project: tuple[Path, dict[str, str]], run_dvc: RunDvc
) -> None:
    # A file prepared earlier (by hand, or by an older version that did not record the source)
    # while params.yaml still names the hub: the stage fails, and must not take the file along.
    repo, env = project
    _set_params(repo, prepare={"source": "hf", "from": ""})
    data = repo / "data" / "imdb_sample.csv"
    written_reviews().sample(frac=1.0, random_state=1).to_csv(data, index=False)
    before = data.read_bytes()

    result = run_dvc(repo, "repro", env=_offline(env), check=False)

    assert result.returncode != 0
    assert "--source csv --from" in result.stdout + result.stderr
    assert data.read_bytes() == before
    assert not (repo / "dvc.lock").exists()
