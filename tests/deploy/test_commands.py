"""Every `sentiment ...` command the deployment files run exists in the CLI, and the Makefile
offers the usual verbs with `make help`, running the same test command as the README and CI.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy.stackfiles import (
    COMPOSE_FILE,
    MAKEFILE,
    WORKFLOWS,
    command_words,
    load_yaml,
    makefile_recipes,
    sentiment_invocations,
    workflow_runs,
)
from tests.deploy.tools import REPO, output, run

# Commands the Makefile already names but another change adds to the CLI (`sentiment stack`).
# The test fails once one exists, so that it leaves this list.
MAKE_VERBS = {
    "help",
    "up",
    "down",
    "logs",
    "train",
    "train-champion",
    "test",
    "lint",
    "format",
    "dvc-push",
    "dvc-pull",
    "predict",
    "stack-up",
    "stack-down",
    "bench",
}
TEST_COMMAND = "uv run pytest -n 2"


def invocations() -> Iterator[tuple[str, list[str]]]:
    """(where, arguments) of each `sentiment` call in compose, workflows, Makefile, dvc.yaml."""
    compose = load_yaml(COMPOSE_FILE)
    for name, service in compose["services"].items():
        for key in ("command", "entrypoint"):
            for args in sentiment_invocations(" ".join(command_words(service.get(key)))):
                yield f"docker-compose.yml:{name}", args
    for path in WORKFLOWS:
        for job, script in workflow_runs(load_yaml(path)):
            for args in sentiment_invocations(script):
                yield f"{path.name}:{job}", args
    for target, lines in makefile_recipes(MAKEFILE.read_text()).items():
        for args in sentiment_invocations("\n".join(lines)):
            yield f"Makefile:{target}", args
    dvc = REPO / "dvc.yaml"
    if dvc.is_file():
        for stage, spec in (load_yaml(dvc).get("stages") or {}).items():
            for args in sentiment_invocations(str(spec.get("cmd", ""))):
                yield f"dvc.yaml:{stage}", args


def command_problems(root: Any, args: list[str]) -> list[str]:
    """What in `sentiment <args>` the CLI does not define: a (sub)command or a --long option.

    Duck-typed on click's command API (`commands`, `params`): Typer ships its own copy of click.
    """
    command, path = root, ["sentiment"]
    words = list(args)
    while hasattr(command, "commands") and words and not words[0].startswith("-"):
        name = words.pop(0)
        sub = command.commands.get(name)
        if sub is None:
            return [f"`{' '.join(path)}` has no command {name!r}"]
        command, path = sub, [*path, name]
    options = {"--help"} | {
        opt for param in command.params for opt in (*param.opts, *param.secondary_opts)
    }
    return [
        f"`{' '.join(path)}` has no option {word.split('=')[0]}"
        for word in words
        if word.startswith("--") and word.split("=")[0] not in options
    ]


def test_deployment_files_call_the_cli() -> None:
    places = {where.split(":")[0] for where, _ in invocations()}
    assert places >= {"docker-compose.yml", "train.yml", "Makefile"}


def test_every_sentiment_command_exists(cli_command: Any) -> None:
    problems = []
    for where, args in invocations():
        problems += [f"{where}: {problem}" for problem in command_problems(cli_command, args)]
    assert problems == []


def test_command_check_catches_typos() -> None:
    import click

    train = click.Command("train", params=[click.Option(["--champion"], is_flag=True)])
    prepare = click.Command("prepare", params=[click.Option(["--source"])])
    root = click.Group("sentiment", commands=[train, click.Group("data", commands=[prepare])])
    assert command_problems(root, ["train", "--champion"]) == []
    assert command_problems(root, ["data", "prepare", "--source=hf"]) == []
    assert command_problems(root, ["trian"]) == ["`sentiment` has no command 'trian'"]
    assert command_problems(root, ["train", "--champoin"]) == [
        "`sentiment train` has no option --champoin"
    ]
    assert command_problems(root, ["data", "fetch"]) == ["`sentiment data` has no command 'fetch'"]


def test_makefile_has_the_usual_verbs_each_documented() -> None:
    text = MAKEFILE.read_text()
    recipes = makefile_recipes(text)
    assert set(recipes) >= MAKE_VERBS
    documented = {line.split(":")[0] for line in text.splitlines() if ":" in line and "## " in line}
    assert documented >= MAKE_VERBS


def test_make_help_lists_every_verb() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    result = run([make, "--no-print-directory", "help"])
    assert result.returncode == 0, output(result)
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")}
    listed = {word.replace("\x1b[36m", "").replace("\x1b[0m", "") for word in listed}
    assert listed >= MAKE_VERBS


def test_make_test_ci_and_readme_run_the_same_command() -> None:
    assert makefile_recipes(MAKEFILE.read_text())["test"] == [TEST_COMMAND]
    ci = load_yaml(REPO / ".github" / "workflows" / "ci.yml")
    assert [script for _, script in workflow_runs(ci) if "pytest" in script] == [TEST_COMMAND]
    readme = (REPO / "README.md").read_text()
    # A command line in the README, without its trailing `# comment`.
    commands = {line.split(" #")[0].strip() for line in readme.splitlines() if "pytest" in line}
    if not commands:
        pytest.skip("README.md names no test command yet")
    assert TEST_COMMAND in commands, commands


def test_train_workflow_trains_with_and_without_champion() -> None:
    train = load_yaml(REPO / ".github" / "workflows" / "train.yml")
    calls = [args for _, script in workflow_runs(train) for args in sentiment_invocations(script)]
    assert ["train"] in calls and ["train", "--champion"] in calls and ["model-info"] in calls
    steps = train["jobs"]["train"]["steps"]
    assert steps[-1]["run"] == "docker compose down -v" and "always()" in steps[-1]["if"]
    up = next(step["run"] for step in steps if "compose up" in step.get("run", ""))
    assert "--wait" in up and "sleep" not in up
    # YAML 1.1 reads the `on` key as True
    assert "set_champion" in train[True]["workflow_dispatch"]["inputs"]
