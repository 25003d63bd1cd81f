"""`sentiment tune` on inputs the user must fix: one line on stderr, exit 2, before any work.

One case runs the console script as a real process, as a user runs it; the others run the same
command in this process (Typer's runner), which checks the same exit code and stderr without
paying a new interpreter's imports each. The process runs the bad params file: the command
checks it first, before importing pandas and scikit-learn (~0.5 CPU s then, ~3 for the folds).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.cli import sentiment
from tests.support.paths import DEMO_DATA, PARAMS_FILE

IN_A_PROCESS = "bad params"  # the case run as a real `sentiment` process


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
    case: str, tmp_path: Path, store_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    arguments, fragment = CASES[case]
    args = ["--data-path", str(DEMO_DATA), "--params", str(PARAMS_FILE), *arguments(tmp_path)]
    if case == IN_A_PROCESS:
        result = sentiment("tune", *args, env=store_env, cwd=tmp_path)
        returncode, stderr = result.returncode, result.stderr
    else:
        from sentiment_mlops.cli import app

        monkeypatch.chdir(tmp_path)
        invoked = CliRunner().invoke(app, ["tune", *args], prog_name="sentiment")
        returncode, stderr = invoked.exit_code, invoked.stderr
        assert invoked.exception is None or isinstance(invoked.exception, SystemExit), (
            invoked.exc_info
        )
    assert returncode == 2, stderr
    assert fragment in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "prefect").exists()  # it stopped before starting Prefect
