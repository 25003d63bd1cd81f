"""Each role installs only its own libraries, and a command of another role names its extra.

The installed sets come from uv.lock through `uv export`, the same resolution the images'
`uv sync --frozen` performs; the CLI runs on a site-packages folder holding only that set.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.deploy.tools import REPO
from tests.support.paths import DEMO_DATA
from tests.support.roles import (
    PROJECT,
    locked_distributions,
    role_cli,
    role_python,
    role_site_packages,
)

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# What only training needs: full MLflow brings Flask and matplotlib with it. (SQLAlchemy is
# the serving role's too, for its prediction log.)
TRAINING_ONLY = {"prefect", "matplotlib", "mlflow", "flask", "pyarrow"}


def _image_extras(image: str) -> set[str]:
    text = (REPO / "docker" / image / "Dockerfile").read_text()
    return set(re.findall(r"--extra[ =](\S+)", text))


def test_api_image_installs_the_serving_extra_without_training_libraries() -> None:
    extras = _image_extras("api")
    assert extras == {"serving"}
    installed = locked_distributions(*extras)
    assert installed & TRAINING_ONLY == set()
    assert "evidently" not in installed  # the drift check runs in the worker, not the API
    assert {"fastapi", "uvicorn", "prometheus-client", "mlflow-skinny", "scikit-learn"} <= installed


def test_training_image_installs_the_flow_and_data_libraries() -> None:
    installed = locked_distributions(*_image_extras("training"))
    assert {"prefect", "matplotlib", "mlflow", "dvc", "datasets", "evidently"} <= installed
    # psycopg: the drift check reads the prediction log in PostgreSQL. No S3 client (artifacts
    # go through MLflow's proxy) and nothing of the API.
    assert {"boto3", "fastapi-offline"} & installed == set()


def test_dev_group_installs_every_role() -> None:
    """`uv run` on a fresh clone (the README's front door) installs the dev group: all roles."""
    (project,) = [
        Requirement(item)
        for item in PYPROJECT["dependency-groups"]["dev"]
        if Requirement(item).name == PROJECT
    ]
    assert project.extras == set(PYPROJECT["project"]["optional-dependencies"])


def test_scikit_learn_is_bounded_below_its_next_minor_release() -> None:
    """The model overrides scikit-learn's private `_count_vocab`: a new minor may change it."""
    (requirement,) = [
        Requirement(item)
        for item in PYPROJECT["project"]["dependencies"]
        if Requirement(item).name == "scikit-learn"
    ]
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    (locked,) = [Version(p["version"]) for p in lock["package"] if p["name"] == "scikit-learn"]
    assert locked in requirement.specifier
    assert Version(f"{locked.major}.{locked.minor + 1}") not in requirement.specifier


@pytest.fixture(scope="module")
def serving_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return role_site_packages(tmp_path_factory.mktemp("serving") / "site-packages", "serving")


@pytest.mark.parametrize(
    ("arguments", "missing", "extra"),
    [
        # Slow (it imports the training libraries it has before the missing one); the other
        # cases show the same message in the quick set.
        pytest.param(
            ["train", "--no-prefect", "--data-path", str(DEMO_DATA)],
            "matplotlib",
            "training",
            marks=pytest.mark.slow,
        ),
        (["train", "--data-path", str(DEMO_DATA)], "prefect", "training"),
        (["stack", "status"], "supervisor", "stack"),
    ],
    ids=["train-no-prefect", "train", "stack-status"],
)
@pytest.mark.slow  # a CLI process per role: over a second of CPU
def test_command_of_another_role_names_the_extra_to_install(
    serving_site: Path, tmp_path: Path, arguments: list[str], missing: str, extra: str
) -> None:
    result = subprocess.run(
        role_cli(serving_site) + arguments,
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    assert f"needs {missing}" in line and f"'{PROJECT}[{extra}]'" in line, line


@pytest.mark.slow  # a Python process: over a second of CPU
def test_api_modules_import_with_the_serving_extra_only(serving_site: Path) -> None:
    code = "import sentiment_mlops.serving.app, sentiment_mlops.serving.server, sentiment_mlops.cli"
    result = subprocess.run(
        role_python(serving_site, code), capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_training_image_libraries_train_register_and_predict(tmp_path: Path) -> None:
    site = role_site_packages(tmp_path / "site-packages", *_image_extras("training"))

    def sentiment(*arguments: str) -> str:
        result = subprocess.run(
            [*role_cli(site), *arguments],
            capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    data, params = str(DEMO_DATA), str(REPO / "params.yaml")
    sentiment("train", "--no-prefect", "--champion", "--data-path", data, "--params", params)
    assert "sentiment-classifier version 1" in sentiment("predict", "A wonderful, moving film.")
