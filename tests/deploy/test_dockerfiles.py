"""The three Dockerfiles follow one recipe, and their build inputs reach the build context.

Recipe: a pinned python:3.12 slim-bookworm base, the uv binary from its pinned image (the
version CI uses too), `uv sync --frozen --no-dev` from the lock with only the image's extras,
a runtime stage without uv that runs as a non-root user, PYTHONUNBUFFERED and a HEALTHCHECK.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.stackfiles import DOCKERFILES, WORKFLOWS, load_yaml
from tests.deploy.tools import REPO

BASE_IMAGE = re.compile(r"python:3\.12\.\d+-slim-bookworm")
UV_IMAGE = re.compile(r"ghcr\.io/astral-sh/uv:(?P<version>\d+\.\d+\.\d+)")
# Each image installs only the extras it needs (pyproject's [project.optional-dependencies]).
# The training image also runs the worker's hourly drift check (the monitoring extra).
EXPECTED_EXTRAS = {
    "training": {"training", "data", "monitoring"},
    "api": {"serving"},
    "mlflow": {"stack"},
}
# What must never reach an image; checked against .dockerignore's own rules.
KEPT_OUT = [
    ".git/HEAD",
    ".env",
    ".venv/bin/python",
    "data/imdb_sample.csv",
    "data/raw/aclImdb_v1.tar.gz",
    "mlflow.db",
    "mlruns/0/meta.yaml",
    "mlartifacts/1/model.pkl",
    ".prefect/prefect.db",
    ".stack/supervisord.conf",  # holds the stack's secrets
    "src/sentiment_mlops/__pycache__/cli.cpython-312.pyc",
    ".pytest_cache/v/cache",
    ".ruff_cache/x",
    ".dvc/cache/files/md5/ab/cdef",
    "metrics.json",
]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse_stages(text: str) -> list[Stage]:
    """Build stages of a Dockerfile: (INSTRUCTION, arguments) pairs, continuations joined."""
    joined = re.sub(r"\\\n", " ", text)
    stages: list[Stage] = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, args = stripped.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            stages.append(Stage(words[0], words[2] if len(words) > 2 else None))
        else:
            stages[-1].instructions.append((keyword, " ".join(args.split())))
    return stages


def dockerignore_excludes(rules: str, path: str) -> bool:
    """Whether .dockerignore `rules` keep `path` out of the context (Docker's semantics).

    The last matching rule wins, `!` re-includes, and a rule that matches a parent folder
    matches everything under it.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for line in rules.splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = _pattern_regex(rule.lstrip("!").strip("/"))
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            regex, i = regex + pattern[i : end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex)


def _stages(dockerfile: Path) -> list[Stage]:
    return parse_stages(dockerfile.read_text())


def _runs(stages: list[Stage]) -> list[str]:
    return [args for stage in stages for keyword, args in stage.instructions if keyword == "RUN"]


ids = {"ids": lambda path: path.parent.name}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, **ids)
def test_multi_stage_on_the_pinned_base(dockerfile: Path) -> None:
    stages = _stages(dockerfile)
    assert len(stages) >= 2
    assert all(BASE_IMAGE.fullmatch(stage.base) for stage in stages), [s.base for s in stages]


def test_every_image_uses_the_same_base() -> None:
    bases = {stage.base for path in DOCKERFILES for stage in _stages(path)}
    assert len(bases) == 1, bases


def test_uv_is_pinned_to_the_version_ci_uses() -> None:
    versions = {
        match["version"] for path in DOCKERFILES for match in UV_IMAGE.finditer(path.read_text())
    }
    ci_versions = {
        step["with"]["version"]
        for path in WORKFLOWS
        for job in load_yaml(path)["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("astral-sh/setup-uv@")
    }
    assert len(versions) == 1 and versions == ci_versions, (versions, ci_versions)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, **ids)
def test_runtime_stage_is_lean_and_non_root(dockerfile: Path) -> None:
    runtime = _stages(dockerfile)[-1]
    keywords = [keyword for keyword, _ in runtime.instructions]
    users = [args for keyword, args in runtime.instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "HEALTHCHECK" in keywords
    env = " ".join(args for keyword, args in runtime.instructions if keyword == "ENV")
    assert "PYTHONUNBUFFERED=1" in env
    text = " ".join(args for _, args in runtime.instructions)
    assert "astral-sh/uv" not in text and "uv sync" not in text and "uv pip" not in text
    assert any(k == "COPY" and a.startswith("--from=builder") for k, a in runtime.instructions)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, **ids)
def test_installs_from_the_lock_with_only_its_extras(dockerfile: Path) -> None:
    uv_commands = [
        run for run in _runs(_stages(dockerfile)) if "uv sync" in run or "uv export" in run
    ]
    assert uv_commands
    for command in uv_commands:
        assert "--frozen" in command and "--no-dev" in command, command
    extras = {name for run in uv_commands for name in re.findall(r"--extra[ =](\S+)", run)}
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert extras <= set(pyproject["project"]["optional-dependencies"])
    assert extras == EXPECTED_EXTRAS[dockerfile.parent.name]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, **ids)
def test_build_inputs_exist_and_pass_dockerignore(dockerfile: Path) -> None:
    rules = (REPO / ".dockerignore").read_text()
    sources = []
    for stage in _stages(dockerfile):
        for keyword, args in stage.instructions:
            words = args.split()
            if keyword in ("COPY", "ADD") and not words[0].startswith("--from"):
                sources += [w for w in words[:-1] if not w.startswith("--")]
            if keyword == "RUN":
                sources += re.findall(r"--mount=type=bind,source=([^,\s]+)", args)
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"{source} does not exist"
        assert not dockerignore_excludes(rules, source.rstrip("/")), f"{source} is dockerignored"


def test_dockerignore_keeps_state_data_and_secrets_out() -> None:
    rules = (REPO / ".dockerignore").read_text()
    assert [path for path in KEPT_OUT if not dockerignore_excludes(rules, path)] == []


def test_dockerignore_matcher_follows_docker_rules() -> None:
    rules = "data/*\n!data/demo_reviews.csv\n**/__pycache__\n.venv\n*.md\n!README.md\n"
    assert dockerignore_excludes(rules, "data/imdb_sample.csv")
    assert not dockerignore_excludes(rules, "data/demo_reviews.csv")
    assert dockerignore_excludes(rules, "src/pkg/__pycache__/x.pyc")
    assert dockerignore_excludes(rules, ".venv/lib/site.py")
    assert dockerignore_excludes(rules, "NOTES.md")
    assert not dockerignore_excludes(rules, "README.md")
    assert not dockerignore_excludes(rules, "src/pkg/cli.py")


def test_compose_builds_each_image_from_the_repository_root(compose: dict) -> None:
    builds = {name: s["build"] for name, s in compose["services"].items() if "build" in s}
    image_of = {name: "training" if name == "prefect-worker" else name for name in builds}
    assert set(image_of.values()) == {path.parent.name for path in DOCKERFILES}
    for name, build in builds.items():
        assert build["context"] == "."
        assert build["dockerfile"] == f"docker/{image_of[name]}/Dockerfile"


def test_api_healthcheck_path_is_served() -> None:
    """The liveness path the API image and compose probe is one the serving code defines."""
    serving = REPO / "src" / "sentiment_mlops" / "serving"
    sources = "\n".join(p.read_text() for p in serving.rglob("*.py")) if serving.is_dir() else ""
    if "/health" not in sources:
        pytest.skip("the serving package defines no health routes yet")
    assert "/health/live" in sources
