"""`sentiment train` under Prefect (its default) on inputs the user must fix: one line, exit 2.

Real processes: the CLI, a real Prefect API server, a real SQLite MLflow store. The flow run
must end Failed with the user's message as its state message, and Prefect's log must carry no
traceback (the traceback is for bugs) and no retry of bad data.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.cli import sentiment
from tests.support.paths import PARAMS_FILE
from tests.support.processes import free_port

pytestmark = pytest.mark.slow

ONE_ROW_CLASS = "text,label\n" + "".join(f"good film number {i},1\n" for i in range(10))


def _params(tmp_path: Path, old: str, new: str) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS_FILE.read_text().replace(old, new))
    return str(path)


def _data(tmp_path: Path, text: str) -> str:
    path = tmp_path / "reviews.csv"
    path.write_text(text)
    return str(path)


# name -> (arguments for `sentiment train` made in a folder, the error's expected fragment)
CASES = {
    "bad params": (
        lambda tmp: ["--params", _params(tmp, "C: 8.0", "C: .inf")],
        "model.C: Input should be a finite number",
    ),
    "missing column": (
        lambda tmp: ["--data-path", _data(tmp, "body,label\ngood,1\nbad,0\n")],
        "missing text column",
    ),
    "empty file": (lambda tmp: ["--data-path", _data(tmp, "")], "file is empty"),
    "one class": (
        lambda tmp: ["--data-path", _data(tmp, ONE_ROW_CLASS)],
        "only one class present",
    ),
    "one review of a class": (
        lambda tmp: ["--data-path", _data(tmp, ONE_ROW_CLASS + "bad film,0\n")],
        "label 0 has only 1 review",
    ),
}


_PAGE = 200  # Prefect's largest page of flow runs


def _post(api: str, path: str, body: dict) -> list[dict]:
    response = httpx.post(f"{api}/{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def _flow_run_ids(api: str) -> set[str]:
    """Every flow run on the server, page by page (the shared server keeps them all)."""
    ids: set[str] = set()
    while page := _post(api, "flow_runs/filter", {"offset": len(ids), "limit": _PAGE}):
        ids |= {run["id"] for run in page}
    return ids


def assert_one_error_line(result, fragment: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert fragment in errors[0]
    assert result.stderr.strip().splitlines() == errors, result.stderr
    return errors[0].removeprefix("error: ")


@pytest.mark.parametrize(("make_args", "fragment"), CASES.values(), ids=CASES.keys())
def test_user_error_under_prefect_is_one_line(
    migrated_store_env: dict[str, str], tmp_path: Path, prefect_api: str, make_args, fragment: str
) -> None:
    # The session's Prefect server (tests/conftest.py's `prefect_api`): this test's run is the
    # one it adds.
    before = _flow_run_ids(prefect_api)
    env = migrated_store_env | {"PREFECT_API_URL": prefect_api}
    result = sentiment("train", *make_args(tmp_path), env=env, cwd=tmp_path)
    message = assert_one_error_line(result, fragment)

    (run_id,) = _flow_run_ids(prefect_api) - before
    (run,) = _post(prefect_api, "flow_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
    assert run["state"]["type"] == "FAILED"
    assert run["state"]["message"] == message
    logs = _post(prefect_api, "logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}})
    assert logs, "the run's log is empty"
    assert not [log for log in logs if "Traceback" in log["message"]], logs
    assert not [log for log in logs if "Retry" in log["message"]], logs


def test_user_error_with_the_embedded_prefect_server(
    migrated_store_env: dict[str, str], migrated_prefect_home: Path, tmp_path: Path
) -> None:
    # The default path: no PREFECT_API_URL, the CLI starts its own server (in a home that an
    # earlier command migrated: the first start is test_cli_commands.py's).
    make_args, fragment = CASES["one class"]
    result = sentiment("train", *make_args(tmp_path), env=migrated_store_env, cwd=tmp_path)
    assert_one_error_line(result, fragment)


def test_unreachable_tracking_server_under_prefect(
    store_env: dict[str, str], tmp_path: Path, prefect_api: str
) -> None:
    env = store_env | {
        "PREFECT_API_URL": prefect_api,
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    result = sentiment("train", env=env, cwd=tmp_path)
    assert_one_error_line(result, "cannot reach the MLflow tracking server")
