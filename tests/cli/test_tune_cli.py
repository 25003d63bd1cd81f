"""`sentiment tune` on inputs the user must fix: one line on stderr, exit 2, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DEMO_DATA, PARAMS_FILE
from tests.support.cli import sentiment


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


CASES = {
    "bad params": (
        lambda tmp: [
            "--params",
            _file(tmp, "params.yaml", PARAMS_FILE.read_text().replace("set: word", "set: words")),
        ],
        "features.set: Input should be 'word', 'char_wb' or 'word+char_wb'",
    ),
    "missing column": (
        lambda tmp: ["--data-path", _file(tmp, "r.csv", "body,label\ngood,1\nbad,0\n")],
        "missing text column",
    ),
    "too many folds": (lambda _tmp: ["--folds", "500"], "--folds 500 needs at least 500"),
    "no trials": (lambda _tmp: ["--trials", "0"], "Invalid value for '--trials'"),
}


@pytest.mark.parametrize("case", CASES)
def test_user_errors_end_with_one_line_and_exit_2(
    case: str, tmp_path: Path, store_env: dict[str, str]
) -> None:
    arguments, fragment = CASES[case]
    args = ["--data-path", str(DEMO_DATA), "--params", str(PARAMS_FILE), *arguments(tmp_path)]
    result = sentiment("tune", *args, env=store_env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "prefect").exists()  # it stopped before starting Prefect
