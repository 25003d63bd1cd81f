"""Read the deployment files into plain data, and the small parsers the consistency tests share.

Apart from the two loaders, functions take text or parsed data and return values or a list of
problems, so each check can also be run on a deliberately broken copy to show that it fails.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.tools import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
DOCKERFILES = sorted((REPO / "docker").glob("*/Dockerfile"))
MAKEFILE = REPO / "Makefile"

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping (anchors and merge keys resolved)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv file; comments and blank lines skipped."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        assert sep, f"{path}: not KEY=VALUE: {line!r}"
        values[key.strip()] = value.strip()
    return values


def referenced_variables(text: str) -> dict[str, str | None]:
    """`${NAME...}` references: name -> operator (`:?`, `:-`, `?`, `-`, or None)."""
    return {m["name"]: m["op"] for m in _INTERPOLATION.finditer(text.replace("$$", ""))}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose-style `${VAR}`, `${VAR:-default}`, `${VAR:?error}` substitution (`$$` is `$`)."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        if op in (":-", "-"):
            use_default = current is None or (op == ":-" and current == "")
            return arg if use_default else current
        if op in (":?", "?") and (current is None or (op == ":?" and current == "")):
            raise KeyError(f"{name}: {arg}")
        return current or ""

    parts = value.split("$$")
    return "$".join(_INTERPOLATION.sub(substitute, part) for part in parts)


def service_environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's `environment` as a mapping (compose allows a list of KEY=VALUE too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def command_words(value: str | list[str] | None) -> list[str]:
    """A compose `command`/`entrypoint`/healthcheck `test` as a list of words."""
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(word) for word in value]


def published_ports(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(host port, container port) pairs of a service's `ports` (short or long syntax)."""
    pairs: set[tuple[int, int]] = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            pairs.add((int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        host, container = (parts[-1], parts[-1]) if len(parts) == 1 else (parts[-2], parts[-1])
        pairs.add((int(host), int(container)))
    return pairs


def one_shot_services(compose: dict[str, Any]) -> set[str]:
    """Services others wait on with `service_completed_successfully`: they run and exit."""
    return {
        name
        for service in compose["services"].values()
        for name, dep in _depends_on(service).items()
        if dep.get("condition") == "service_completed_successfully"
    }


def dependency_problems(compose: dict[str, Any]) -> list[str]:
    """Health/dependency rules: healthchecks on long-running services, conditions that fit."""
    services = compose["services"]
    one_shots = one_shot_services(compose)
    problems = []
    for name, service in services.items():
        if name not in one_shots and not (service.get("healthcheck") or {}).get("test"):
            problems.append(f"{name}: long-running service without a healthcheck")
        if name in one_shots and service.get("restart", "no") != "no":
            problems.append(f"{name}: one-shot service must not restart")
        for target, dep in _depends_on(service).items():
            condition = dep.get("condition")
            if target not in services:
                problems.append(f"{name}: depends on unknown service {target}")
            elif condition == "service_healthy" and target in one_shots:
                problems.append(f"{name}: waits for one-shot {target} to be healthy")
            elif condition not in ("service_healthy", "service_completed_successfully"):
                problems.append(f"{name}: depends on {target} with condition {condition}")
    return problems


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return {name: dep or {"condition": "service_started"} for name, dep in deps.items()}


# --- `sentiment ...` invocations -------------------------------------------------------------
_OPERATOR_CHARS = set("();<>|&")


def shell_words(line: str) -> list[str]:
    """Words of one shell line, comments dropped, operators (`&&`, `;`, `|`) as their own words."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes in a templated line: plain words are enough here
        return line.split()


def sentiment_invocations(text: str) -> Iterator[list[str]]:
    """The argument words of each `sentiment ...` command in a shell text, one list per call."""
    for line in text.replace("\\\n", " ").splitlines():
        words = shell_words(line)
        for index, word in enumerate(words):
            if word != "sentiment" or (index and words[index - 1] in ("echo", "printf")):
                continue
            args = []
            for arg in words[index + 1 :]:
                if arg and set(arg) <= _OPERATOR_CHARS:
                    break
                args.append(arg)
            yield args


def makefile_recipes(text: str) -> dict[str, list[str]]:
    """Makefile target -> recipe lines (tab-indented), with continuation lines joined."""
    recipes: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.replace("\\\n", " ").splitlines():
        target = re.match(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", line)
        if target:
            current = recipes.setdefault(target[1], [])
        elif line.startswith("\t") and current is not None:
            current.append(line.strip().lstrip("@-"))
        elif line.strip() and not line.startswith("#"):
            current = None
    return recipes


def workflow_runs(workflow: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """(job id, run script) of every step with a `run`."""
    for job_id, job in (workflow.get("jobs") or {}).items():
        for step in job.get("steps") or []:
            if "run" in step:
                yield job_id, step["run"]
