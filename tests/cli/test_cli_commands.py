"""The `sentiment` console script as a user runs it: real processes, real MLflow and Prefect."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.cli import sentiment
from tests.support.paths import PARAMS_FILE

pytestmark = pytest.mark.slow


@pytest.fixture
def workdir(migrated_store_env: dict[str, str], tmp_path: Path) -> Path:
    """The test's folder, where `store_env`'s MLflow store is an empty migrated one (the first
    use of a store is test_store_init.py's) and its Prefect home is new: the first `train`
    here is the local Prefect server's first start."""
    return tmp_path


def test_train_champion_with_local_prefect_then_manage_aliases(
    store_env: dict[str, str], workdir: Path
) -> None:
    weak = workdir / "weak.yaml"
    params = yaml.safe_load(PARAMS_FILE.read_text())
    params["vectorizer"]["max_features"] = 50
    weak.write_text(yaml.safe_dump(params))

    first = sentiment("train", "--champion", "--params", str(weak), env=store_env, cwd=workdir)
    assert first.returncode == 0, first.stderr
    # rich wraps a log line longer than the terminal (two long temporary paths here).
    assert "training on the demo reviews" in " ".join((first.stderr + first.stdout).split())
    assert "registered version 1" in first.stdout
    assert "promoted to champion: no champion yet" in first.stdout
    # Prefect's local mode keeps its database in PREFECT_HOME, migrated once.
    assert list(Path(store_env["PREFECT_HOME"]).glob(".migrated-prefect-*"))

    second = sentiment("train", "--champion", env=store_env, cwd=workdir)
    assert second.returncode == 0, second.stderr
    assert "registered version 2" in second.stdout
    assert "promoted to champion: challenger scores higher" in second.stdout

    info = sentiment("model-info", env=store_env, cwd=workdir)
    assert info.returncode == 0, info.stderr
    assert "sentiment-classifier@champion -> version 2" in info.stdout
    assert "champion" in info.stdout and "f1" in info.stdout

    listing = sentiment("models", env=store_env, cwd=workdir)
    assert "previous" in listing.stdout and "champion" in listing.stdout

    rollback = sentiment("rollback", env=store_env, cwd=workdir)
    assert rollback.returncode == 0, rollback.stderr
    assert "version 1" in rollback.stdout
    info = sentiment("model-info", env=store_env, cwd=workdir)
    assert "-> version 1" in info.stdout

    moved = sentiment(
        "set-alias", "--version", "2", "--alias", "champion", env=store_env, cwd=workdir
    )
    assert moved.returncode == 0, moved.stderr
    staging = sentiment(
        "set-alias", "--version", "1", "--alias", "staging", env=store_env, cwd=workdir
    )
    assert staging.returncode == 0, staging.stderr
    assert (
        "version 1"
        in sentiment("model-info", "--alias", "staging", env=store_env, cwd=workdir).stdout
    )

    predicted = sentiment(
        "predict",
        "A wonderful, moving film.",
        "Dull, awful, far too long.",
        env=store_env,
        cwd=workdir,
    )
    assert predicted.returncode == 0, predicted.stderr
    lines = [line for line in predicted.stdout.splitlines() if "film" in line or "long" in line]
    assert "positive" in lines[0] and "negative" in lines[1]


def test_train_without_prefect_writes_dvc_outputs(store_env: dict[str, str], workdir: Path) -> None:
    result = sentiment(
        "train", "--no-prefect", "--metrics-file", "out/metrics.json", "--plots-dir", "out/plots",
        env=store_env, cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = yaml.safe_load((workdir / "out/metrics.json").read_text())
    assert set(metrics) == {"accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"}
    roc = (workdir / "out/plots/roc_curve.csv").read_text().splitlines()
    assert roc[0] == "fpr,tpr" and len(roc) > 3
    predictions = (workdir / "out/plots/predictions.csv").read_text().splitlines()
    assert predictions[0] == "actual,predicted"
    assert "champion: not considered" in result.stdout
