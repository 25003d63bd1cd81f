"""User errors end with exit code 2 (1 for "not found") and one line on stderr, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentiment_mlops.cli import app
from tests.support.paths import PARAMS_FILE

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), prog_name="sentiment")


def assert_one_line_error(result, code: int, fragment: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.output


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.exit_code == 0
    commands = (
        "train",
        "tune",
        "model-info",
        "models",
        "set-alias",
        "rollback",
        "predict",
        "serve",
    )
    for command in commands:
        assert command in result.stdout


def test_missing_data_file(migrated_store_env: dict[str, str], tmp_path: Path) -> None:
    result = run("train", "--no-prefect", "--data-path", str(tmp_path / "missing.csv"))
    assert_one_line_error(result, 2, "missing.csv: file not found")


def test_bad_data_file(migrated_store_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\ngood,1\nbad,meh\n")
    result = run("train", "--no-prefect", "--data-path", str(bad))
    assert_one_line_error(result, 2, "unknown label value(s) 'meh'")


def test_bad_params_file(migrated_store_env: dict[str, str], tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("data: {test_size: 2, random_state: 1}\n")
    result = run("train", "--no-prefect", "--params", str(params))
    assert_one_line_error(result, 2, "data.test_size")


def test_champion_needs_registration(migrated_store_env: dict[str, str]) -> None:
    assert_one_line_error(run("train", "--champion", "--no-register"), 2, "--no-register")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("model-info",), "has no version with alias 'champion'"),
        (("model-info", "--alias", "staging"), "alias 'staging'"),
        (("rollback",), "no 'previous' version"),
        (("models",), "has no registered versions"),
        (("set-alias", "--version", "7", "--alias", "staging"), "has no version 7"),
        (("predict", "great film"), "has no version with alias 'champion'"),
    ],
)
def test_empty_registry_is_not_found(
    migrated_store_env: dict[str, str], args, fragment: str
) -> None:
    assert_one_line_error(run(*args), 1, fragment)


def test_version_must_be_a_number(migrated_store_env: dict[str, str]) -> None:
    assert_one_line_error(run("set-alias", "--version", "latest"), 2, "version number")


def test_webhook_needs_a_server(migrated_store_env: dict[str, str]) -> None:
    assert_one_line_error(run("webhook", "register"), 2, "MLflow server")


@pytest.mark.parametrize(
    "args", [("model-info",), ("models",), ("rollback",), ("set-alias", "--version", "1")]
)
def test_unreachable_tracking_server(migrated_store_env: dict[str, str], monkeypatch, args) -> None:
    """A server that is down is not an empty registry: exit 2 and say so (not "no versions")."""
    from tests.support.processes import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    from sentiment_mlops.settings import get_settings

    get_settings.cache_clear()
    assert_one_line_error(run(*args), 2, "cannot reach the MLflow tracking server")


def test_bad_setting_is_one_line(store_env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("CHAMPION_METRIC", "neg_log_loss")
    from sentiment_mlops.settings import get_settings

    get_settings.cache_clear()
    assert_one_line_error(run("models"), 2, "CHAMPION_METRIC: unknown metric 'neg_log_loss'")


ONE_REVIEW_OF_A_CLASS = (
    "text,label\n" + "".join(f"good film {i},1\n" for i in range(10)) + "bad,0\n"
)
NO_WORDS = "text,label\n" + "".join(f"{'!?' if i % 2 else 'a .'},{i % 2}\n" for i in range(20))


@pytest.mark.parametrize(
    ("data", "params_change", "fragment"),
    [
        (ONE_REVIEW_OF_A_CLASS, None, "label 0 has only 1 review"),
        (NO_WORDS, None, "contain no words after cleaning"),
        (None, ("min_df: 1", "min_df: 1000"), "vectorizer.min_df=1000 keeps no words"),
        (None, ("min_df: 1", "min_df: 2.5"), "vectorizer.min_df: min_df must be a whole number"),
        (None, ("C: 8.0", "C: .inf"), "model.C: Input should be a finite number"),
        (None, ("random_state: 42", "random_state: -1"), "data.random_state"),
        (None, ("data:\n", "data:\n   oops: [\n"), "params.yaml:5:15: not valid YAML (expected"),
    ],
    ids=["one-review-class", "no-words", "min-df-too-big", "min-df-2.5", "c-inf", "seed", "yaml"],
)
def test_training_input_errors_are_one_line(
    migrated_store_env: dict[str, str], tmp_path: Path, data, params_change, fragment: str
) -> None:
    args = ["train", "--no-prefect", "--no-register"]
    if data is not None:
        (tmp_path / "reviews.csv").write_text(data)
        args += ["--data-path", str(tmp_path / "reviews.csv")]
    if params_change is not None:
        params = tmp_path / "params.yaml"
        params.write_text(PARAMS_FILE.read_text().replace(*params_change))
        args += ["--params", str(params)]
    assert_one_line_error(run(*args), 2, fragment)
