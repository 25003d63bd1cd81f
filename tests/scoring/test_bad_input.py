"""Every bad request ends `sentiment score` with one line and exit 2 (1 for a model that does
not exist), and leaves nothing at the output path: no file, no temporary, no older file lost."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sentiment_mlops.cli.main import app
from tests.scoring.helpers import store_environment
from tests.scoring.reviews import generated_reviews, write_reviews
from tests.serving.helpers import MlflowStore


@pytest.fixture
def score(mlflow_store: MlflowStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Run `sentiment score ARGS` in-process on the store; (exit code, stderr lines)."""

    def run(*args: str) -> tuple[int, list[str]]:
        result = CliRunner().invoke(app, ["score", *args])
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        ), result.exception
        return result.exit_code, result.stderr.strip().splitlines()

    with store_environment(mlflow_store, monkeypatch):
        yield run


def _left_behind(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or "out" in p.name)


def _reviews(tmp_path: Path, name: str = "in.csv", rows: int = 20) -> Path:
    return write_reviews(tmp_path / name, generated_reviews(rows))


def test_a_missing_text_column_names_the_columns_found(score, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"review": ["Great."], "stars": [5]}).to_csv(source, index=False)
    code, lines = score("--input", str(source), "--output", str(tmp_path / "out.parquet"))
    assert code == 2
    assert lines == [
        f"error: {source} has no column 'text' (columns found: 'review', 'stars'); "
        "choose one with --text-column"
    ]
    assert _left_behind(tmp_path) == []


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "in.csv", "is empty"),
        (b"", "in.parquet", "is empty"),
        (b"id,text,label\n", "in.csv", "has no rows to score"),
        (b"not a parquet file at all", "in.parquet", "Parquet magic bytes not found"),
        (b"text\nGreat.\n", "in.txt", "unknown file type '.txt'"),
    ],
)
def test_an_unusable_input_is_one_line(
    score, tmp_path: Path, content: bytes, name: str, message: str
) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    code, lines = score("--input", str(source), "--output", str(tmp_path / "out.parquet"))
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert _left_behind(tmp_path) == []


def test_a_missing_or_folder_input_is_one_line(score, tmp_path: Path) -> None:
    for source, why in [(tmp_path / "nope.csv", "does not exist"), (tmp_path, "is a directory")]:
        code, lines = score("--input", str(source), "--output", str(tmp_path / "out.parquet"))
        assert (code, lines) == (2, [f"error: cannot read {source}: it {why}"])


def test_a_text_column_that_is_not_text_is_refused(score, tmp_path: Path) -> None:
    source = write_reviews(tmp_path / "in.parquet", pd.DataFrame({"text": [1, 2]}))
    code, lines = score("--input", str(source), "--output", str(tmp_path / "out.parquet"))
    assert (code, lines) == (2, [f"error: {source}: column 'text' holds int64, not text"])


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/no-such-model@champion", "model 'no-such-model' has no version with alias"),
        ("models:/sentiment-classifier@no-such-alias", "has no version with alias 'no-such"),
        ("models:/sentiment-classifier/999", "has no version 999"),
    ],
)
def test_a_model_or_alias_that_does_not_exist_exits_1(
    score, tmp_path: Path, uri: str, message: str
) -> None:
    source = _reviews(tmp_path)
    code, lines = score("--input", str(source), "--output", str(tmp_path / "out.parquet"),
                        "--model-uri", uri)  # fmt: skip
    assert code == 1
    assert len(lines) == 1 and message in lines[0], lines
    assert _left_behind(tmp_path) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--model-uri", "runs:/abc/model"], "--model-uri must be models:/<name>@<alias>"),
        (["--engine", "dask"], "--engine must be one of local, spark"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_options_are_one_line(score, tmp_path: Path, options: list[str], message: str) -> None:
    source = _reviews(tmp_path)
    code, lines = score("--input", str(source), "--output", str(tmp_path / "out.csv"), *options)
    assert code == 2
    assert len(lines) == 1 and message in lines[0], lines


def test_an_existing_output_needs_force(score, tmp_path: Path) -> None:
    source, target = _reviews(tmp_path), tmp_path / "out.csv"
    target.write_text("older results\n")
    code, lines = score("--input", str(source), "--output", str(target))
    assert (code, lines) == (2, [f"error: {target} exists: use --force to replace it"])
    assert target.read_text() == "older results\n"
    code, _ = score("--input", str(source), "--output", str(target), "--force")
    assert code == 0
    assert len(pd.read_csv(target)) == 20


def test_an_output_folder_that_does_not_exist_is_refused(score, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "out.parquet"
    code, lines = score("--input", str(_reviews(tmp_path)), "--output", str(target))
    assert code == 2
    assert lines == [f"error: cannot write {target}: folder {target.parent} does not exist"]


@pytest.mark.slow  # a process killed mid-stream: over a second of CPU
def test_a_failure_while_streaming_leaves_no_output_and_keeps_the_old_one(
    score, tmp_path: Path
) -> None:
    """A malformed row well after the first block is found mid-run, once output has begun."""
    source = _reviews(tmp_path, rows=12_000)  # ~4 MB: CSV blocks of ~500 KB at 500 rows
    with source.open("a") as file:
        file.write('99999,"a review",1,an extra field\n')
    target = tmp_path / "out.parquet"
    code, lines = score("--input", str(source), "--output", str(target), "--batch-size", "500")
    assert code == 2
    assert len(lines) == 1 and "Expected 3 columns, got 4" in lines[0], lines
    assert _left_behind(tmp_path) == []
    target.write_bytes(b"older results")
    code, _ = score("--input", str(source), "--output", str(target), "--force")
    assert code == 2
    assert target.read_bytes() == b"older results"
    assert _left_behind(tmp_path) == ["out.parquet"]
