"""`sentiment data prepare`: the command a user and the DVC `prepare` stage run."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result
from typer.testing import CliRunner

from sentiment_mlops.cli.data import data_app
from sentiment_mlops.settings import get_settings
from tests.data.helpers import expected_split, project_env

runner = CliRunner()
# The lead's `sentiment` console script mounts this sub-app as `sentiment data`. At its exit the
# child prints the top-level packages it imported, as stdout's last line.
_RUN_DATA_APP = """
import sys
from sentiment_mlops.cli.data import data_app
try:
    data_app()
finally:
    print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def prepare(*args: str):
    return runner.invoke(data_app, ["prepare", *args])


@pytest.fixture
def prepare_in(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run the command in this process as from `folder` (its working directory), with the
    variables `env` set and the settings read afresh."""

    def run(folder: Path, *args: str, **env: str) -> Result:
        monkeypatch.chdir(folder)
        for name in ("DATA_PATH", "PARAMS_PATH"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            return prepare(*args)
        finally:
            get_settings.cache_clear()

    return run


def _prepare_process(
    tmp_path: Path, *args: str, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the command in a fresh interpreter, as a user would: for the Hugging Face hub's
    variables, which its client reads once, at import."""
    return subprocess.run(
        [sys.executable, "-c", _RUN_DATA_APP, "prepare", *args],
        cwd=tmp_path,
        env=project_env(HF_HOME=str(tmp_path / "hf-home"), **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_csv_source_writes_a_balanced_text_label_csv(reviews: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "reviews.csv"
    reviews.to_csv(source, index=False)
    out = tmp_path / "sample.csv"

    result = prepare(
        "--source", "csv", "--from", str(source), "--samples", "40", "--output", str(out)
    )

    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert list(written.columns) == ["text", "label"]
    assert written["label"].value_counts().to_dict() == {0: 20, 1: 20}
    assert set(written["text"]) <= set(reviews["text"])
    assert "Wrote 40 rows" in result.output
    assert "20 negative (50.0%), 20 positive (50.0%)" in result.output


@pytest.mark.parametrize("source", ["folder", "tarball"])
def test_aclimdb_source_samples_the_requested_split(
    reviews: pd.DataFrame, aclimdb_folder: Path, aclimdb_tarball: Path, tmp_path: Path, source: str
) -> None:
    path = aclimdb_folder if source == "folder" else aclimdb_tarball
    out = tmp_path / "sample.csv"

    result = prepare(
        "--source", "aclimdb", "--from", str(path), "--split", "test", "--samples", "30",
        "--output", str(out),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert written["label"].value_counts().to_dict() == {0: 15, 1: 15}
    assert set(written["text"]) <= set(expected_split(reviews, "test")["text"])


def test_same_options_give_byte_identical_output_folder_or_tarball(
    aclimdb_folder: Path, aclimdb_tarball: Path, tmp_path: Path
) -> None:
    outputs = []
    for index, path in enumerate([aclimdb_folder, aclimdb_tarball, aclimdb_folder]):
        out = tmp_path / f"sample{index}.csv"
        result = prepare("--source", "aclimdb", "--from", str(path), "--samples", "50",
                         "--output", str(out))  # fmt: skip
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())

    assert outputs[0] == outputs[1] == outputs[2]
    other_seed = tmp_path / "other.csv"
    prepare("--source", "aclimdb", "--from", str(aclimdb_folder), "--samples", "50",
            "--seed", "7", "--output", str(other_seed))  # fmt: skip
    assert other_seed.read_bytes() != outputs[0]


def test_existing_output_is_kept_without_force(reviews: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "reviews.csv"
    reviews.to_csv(source, index=False)
    out = tmp_path / "sample.csv"
    out.write_text("text,label\nkeep me,1\nand me,0\n", encoding="utf-8")

    kept = prepare("--source", "csv", "--from", str(source), "--output", str(out))

    assert kept.exit_code == 0
    assert "kept" in kept.output
    assert "2 rows" in kept.output
    assert out.read_text(encoding="utf-8") == "text,label\nkeep me,1\nand me,0\n"

    forced = prepare("--source", "csv", "--from", str(source), "--output", str(out), "--force")

    assert forced.exit_code == 0, forced.output
    assert len(pd.read_csv(out)) > 2


def test_output_folder_is_created(reviews: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "reviews.csv"
    reviews.to_csv(source, index=False)
    out = tmp_path / "new" / "folder" / "sample.csv"

    result = prepare("--source", "csv", "--from", str(source), "--output", str(out))

    assert result.exit_code == 0, result.output
    assert out.is_file()


def test_empty_from_means_none(tmp_path: Path) -> None:
    # dvc.yaml passes `--from ""` when params.yaml has `from: ""`.
    result = prepare("--source", "csv", "--from", "", "--output", str(tmp_path / "o.csv"))

    assert result.exit_code == 2
    assert "--source csv needs --from PATH" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "csv"], "--source csv needs --from PATH"),
        (["--source", "csv", "--from", "nowhere.csv"], "nowhere.csv: no such file"),
        (["--source", "aclimdb", "--from", "nowhere"], "nowhere: no such file"),
        (["--source", "hf", "--from", "x.csv"], "the hf source takes no path"),
    ],
)
def test_user_errors_are_one_line_on_stderr_with_exit_code_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out.csv"

    result = prepare(*args, "--output", str(out))

    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


# --- The hub, unreachable ---------------------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[tuple[int, Callable[[], int]]]:
    """A TCP port that accepts connections and never answers (a black-holing firewall: the
    kernel completes the handshakes, nothing reads); yields it and a function that counts the
    connections made so far."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        server.setblocking(False)
        accepted: list[socket.socket] = []

        def connections() -> int:
            with contextlib.suppress(BlockingIOError):
                while True:
                    accepted.append(server.accept()[0])
            return len(accepted)

        try:
            yield server.getsockname()[1], connections
        finally:
            for connection in accepted:
                connection.close()


def _imported(result: subprocess.CompletedProcess[str]) -> set[str]:
    """The top-level packages the child imported (`_RUN_DATA_APP`'s last line)."""
    return set(result.stdout.splitlines()[-1].split())


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _assert_offline_failure(result: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "--source aclimdb --from" in lines[0]
    assert "--source csv --from" in lines[0]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.glob("**/imdb_sample*")) == []


@pytest.fixture(scope="module")
def offline_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The command in offline mode: the same start-up and failure as below, without the network.
    How long each case takes, next to this one: bench/hub_unreachable.py."""
    folder = tmp_path_factory.mktemp("offline")
    result = _prepare_process(folder, "--output", "data/imdb_sample.csv", HF_HUB_OFFLINE="1")
    return result, folder


@pytest.mark.slow  # a CLI process: over a second of CPU
def test_unreachable_hub_fails_with_one_line(tmp_path: Path) -> None:
    result = _prepare_process(
        tmp_path, "--output", "data/imdb_sample.csv",
        HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}",
    )  # fmt: skip

    _assert_offline_failure(result, tmp_path)
    assert "cannot reach the Hugging Face hub" in result.stderr
    # It fails at the probe, before anything builds a frame (pandas: ~0.4 CPU s to import).
    assert "pandas" not in _imported(result)


@pytest.mark.slow  # a CLI process: over a second of CPU
def test_silent_hub_fails_after_one_probe_and_its_timeout(
    tmp_path: Path, silent_port: tuple[int, Callable[[], int]]
) -> None:
    """One connection, the probe's: `datasets`, which retries for about half a minute, never
    tries the hub. The port accepts and never answers, so any timeout ends the probe: the
    smallest the option takes keeps the test from waiting."""
    port, connections = silent_port
    result = _prepare_process(
        tmp_path, "--output", "data/imdb_sample.csv", "--timeout", "0.1",
        HF_ENDPOINT=f"http://127.0.0.1:{port}",
    )  # fmt: skip

    _assert_offline_failure(result, tmp_path)
    assert "Timeout" in result.stderr
    assert connections() == 1


@pytest.mark.slow  # a CLI process: over a second of CPU
def test_offline_mode_without_a_cached_copy_fails_with_one_line(offline_run) -> None:
    result, folder = offline_run
    _assert_offline_failure(result, folder)


def test_default_output_is_the_configured_data_path(
    reviews: pd.DataFrame, tmp_path: Path, prepare_in
) -> None:
    source = tmp_path / "reviews.csv"
    reviews.to_csv(source, index=False)
    configured = tmp_path / "configured" / "sample.csv"

    result = prepare_in(
        tmp_path, "--source", "csv", "--from", str(source), DATA_PATH=str(configured)
    )

    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(configured).columns) == ["text", "label"]


# --- The pipeline's data file: its options go into params.yaml --------------------------------


@pytest.fixture
def pipeline_folder(tmp_path: Path) -> Path:
    """A project folder with the committed dvc.yaml and params.yaml."""
    from tests.support.paths import PROJECT_ROOT

    for name in ("dvc.yaml", "params.yaml"):
        (tmp_path / name).write_bytes((PROJECT_ROOT / name).read_bytes())
    return tmp_path


def test_preparing_the_pipeline_file_records_its_options_in_params_yaml(
    reviews: pd.DataFrame, pipeline_folder: Path, prepare_in
) -> None:
    import yaml

    params = pipeline_folder / "params.yaml"
    committed = params.read_text(encoding="utf-8")
    (pipeline_folder / "mine").mkdir()
    reviews.to_csv(pipeline_folder / "mine" / "reviews.csv", index=False)

    result = prepare_in(
        pipeline_folder, "--source", "csv", "--from", "mine/reviews.csv", "--samples", "40"
    )

    assert result.exit_code == 0, result.output
    assert "Recorded these options in params.yaml" in result.stdout
    assert yaml.safe_load(params.read_text())["prepare"] == {
        "source": "csv", "from": "mine/reviews.csv", "samples": 40, "seed": 42, "split": "train",
    }  # fmt: skip
    # Only the recorded values changed: other sections, comments and layout are as committed.
    changed = [
        (old, new)
        for old, new in zip(committed.splitlines(), params.read_text().splitlines(), strict=True)
        if old != new
    ]
    assert [old.split(":")[0].strip() for old, _ in changed] == ["source", "from", "samples"]

    # What `dvc repro` then runs (the same options, --force) leaves params.yaml alone.
    written = params.stat().st_mtime_ns
    again = prepare_in(
        pipeline_folder, "--source", "csv", "--from", "mine/reviews.csv", "--samples", "40",
        "--output", "data/imdb_sample.csv", "--force",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "Recorded" not in again.stdout
    assert params.stat().st_mtime_ns == written


def test_preparing_another_file_leaves_params_yaml_alone(
    reviews: pd.DataFrame, pipeline_folder: Path, prepare_in
) -> None:
    before = (pipeline_folder / "params.yaml").read_bytes()
    reviews.to_csv(pipeline_folder / "reviews.csv", index=False)

    result = prepare_in(
        pipeline_folder, "--source", "csv", "--from", "reviews.csv", "--output", "other.csv"
    )

    assert result.exit_code == 0, result.output
    assert (pipeline_folder / "other.csv").is_file()
    assert (pipeline_folder / "params.yaml").read_bytes() == before


def test_default_sample_is_the_whole_split(tmp_path: Path) -> None:
    """Without --samples the command keeps every review (a whole IMDb split is 25,000), not a
    2,000-review sample."""
    rows = 2_400
    source = tmp_path / "many.csv"
    pd.DataFrame(
        {"text": [f"review number {i} was {'good' if i % 2 else 'bad'}" for i in range(rows)],
         "label": [i % 2 for i in range(rows)]}
    ).to_csv(source, index=False)  # fmt: skip
    out = tmp_path / "sample.csv"

    result = prepare("--source", "csv", "--from", str(source), "--output", str(out))

    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == rows
    assert f"Wrote {rows:,} rows" in result.output
