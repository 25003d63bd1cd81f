"""`sentiment train` run outside the project folder: packaged params, clear errors, no litter."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import sentiment
from tests.support.paths import DEMO_DATA

pytestmark = pytest.mark.slow


@pytest.fixture
def elsewhere(store_env: dict[str, str], tmp_path: Path) -> Path:
    """An empty folder with no params.yaml and no data: not the project."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def test_trains_with_the_packaged_params(
    migrated_store_env: dict[str, str], elsewhere: Path
) -> None:
    env = migrated_store_env | {"DATA_PATH": str(DEMO_DATA)}
    result = sentiment(
        "train", "--no-prefect", "--no-register", env=env, cwd=elsewhere, unset=("PARAMS_PATH",)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"no params.yaml in {elsewhere}: using the default params" in result.stdout
    assert "held-out metrics" in result.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # Default data, not there: say where we looked and what to pass.
        ({}, "error: data/imdb_sample.csv: file not found in {cwd} (name one with --data-path"),
        (
            {"PARAMS_PATH": "mine.yaml"},
            "error: mine.yaml: params file not found in {cwd} (name one with --params or "
            "PARAMS_PATH)",
        ),
    ],
    ids=["data", "params"],
)
def test_missing_inputs_say_where_and_leave_nothing(
    store_env: dict[str, str], elsewhere: Path, env: dict[str, str], expected: str
) -> None:
    # Prefect's default home is `.prefect` in the current folder: it must not appear.
    defaults = ("PARAMS_PATH", "DATA_PATH", "DEMO_DATA_PATH", "PREFECT_HOME")
    unset = tuple(name for name in defaults if name not in env)
    result = sentiment("train", env=store_env | env, cwd=elsewhere, unset=unset)
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.strip().startswith(expected.format(cwd=elsewhere))
    assert list(elsewhere.iterdir()) == []
