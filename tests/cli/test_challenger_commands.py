"""The challenger's registry flow as a user runs it (issue 13 part 1): a real SQLite MLflow.

`train --challenger` nominates a version that meets the params' quality floor and never moves
the champion; one below the floor (a strict params file) is not nominated; `promote` moves the
challenger to champion (old champion -> `previous`, challenger alias gone); `challenger clear`
removes the alias.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from tests.support.cli import sentiment
from tests.support.paths import PARAMS_FILE

pytestmark = pytest.mark.slow

NAME = "sentiment-classifier"


def _aliases(env: dict[str, str]) -> dict[str, str]:
    uri = env["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return {alias: str(v) for alias, v in client.get_registered_model(NAME).aliases.items()}


def test_challenger_is_nominated_promoted_and_cleared(
    migrated_store_env: dict[str, str], tmp_path: Path
) -> None:
    env = migrated_store_env

    def run(*args: str) -> tuple[int, str]:
        done = sentiment(*args, env=env, cwd=tmp_path)
        return done.returncode, done.stdout + done.stderr

    code, out = run("train", "--no-prefect", "--champion")
    assert code == 0, out

    strict = tmp_path / "strict.yaml"
    params = yaml.safe_load(PARAMS_FILE.read_text())
    params["challenger"]["quality_floor"] = 0.99  # the demo model scores about 0.75
    strict.write_text(yaml.safe_dump(params))
    code, out = run("train", "--no-prefect", "--challenger", "--params", str(strict))
    assert code == 0, out
    assert "not a challenger: below the quality floor" in out
    assert _aliases(env) == {"champion": "1"}

    code, out = run("train", "--no-prefect", "--challenger")
    assert code == 0, out
    assert "challenger: version 3" in out
    assert _aliases(env) == {"champion": "1", "challenger": "3"}  # the champion did not move

    code, out = run("model-info")
    assert code == 0 and "challenger: version 3" in out, out
    code, out = run("models")
    assert code == 0 and "challenger" in out, out

    code, out = run("promote")
    assert code == 0, out
    assert f"{NAME}@champion -> version 3 (was version 1)" in out
    assert _aliases(env) == {"champion": "3", "previous": "1"}

    code, out = run("promote")
    assert code == 1, out
    assert "no version with alias 'challenger'" in out and "Traceback" not in out

    code, out = run("set-alias", "--version", "2", "--alias", "challenger")
    assert code == 0, out
    code, out = run("challenger", "clear")
    assert code == 0 and "removed (was version 2)" in out, out
    assert _aliases(env) == {"champion": "3", "previous": "1"}
    code, out = run("challenger", "clear")
    assert code == 0 and "nothing to clear" in out, out


@pytest.mark.parametrize("other", ["--champion", "--no-register"])
def test_challenger_goes_alone(
    migrated_store_env: dict[str, str], tmp_path: Path, other: str
) -> None:
    done = sentiment("train", "--challenger", other, env=migrated_store_env, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --challenger goes alone: drop --champion and --no-register"
    ]


def test_challenger_alias_must_differ_from_the_served_alias(
    migrated_store_env: dict[str, str], tmp_path: Path
) -> None:
    env = migrated_store_env | {"CHALLENGER_ALIAS": "champion"}
    done = sentiment("models", env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert "CHALLENGER_ALIAS must differ from MODEL_ALIAS" in done.stderr
