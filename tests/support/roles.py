"""Run our code as one role's install would: the base set plus that role's extras, nothing else.

`locked_distributions` asks uv which distributions `uv sync --frozen --no-dev --extra ...`
installs, from uv.lock. `role_site_packages` lays those out as a site-packages folder of
symbolic links into this environment's, and `role_python` starts this interpreter isolated
(`-I -S`) on that folder: other libraries are absent for imports, `find_spec` and
`importlib.metadata` alike. A real check of the import graph, built offline in a second.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.tools import REPO

PROJECT = "sentiment-mlops"


def locked_distributions(*extras: str) -> set[str]:
    """Canonical names of what `uv sync --frozen --no-dev` with `extras` installs here."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    command = [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"]
    command += [f"--extra={extra}" for extra in extras]
    lines = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    requirements = [Requirement(line) for line in lines if line and line[0].isalnum()]
    return {
        canonicalize_name(requirement.name)
        for requirement in requirements
        if requirement.marker is None or requirement.marker.evaluate()
    }


def role_site_packages(folder: Path, *extras: str, project: bool = True) -> Path:
    """A site-packages folder with only the role's distributions (and ours, if `project`)."""
    wanted = locked_distributions(*extras) | ({canonicalize_name(PROJECT)} if project else set())
    folder.mkdir(parents=True, exist_ok=True)
    for distribution in importlib.metadata.distributions():
        if canonicalize_name(distribution.metadata["Name"]) not in wanted:
            continue
        tops = {PurePosixPath(str(file)).parts[0] for file in distribution.files or []}
        for top in sorted(tops):
            source = Path(distribution.locate_file(top))
            if top in ("..", "__pycache__") or top.endswith(".pth") or not source.exists():
                continue  # scripts, caches, and path hooks such as our editable install's
            if not (folder / top).exists():
                (folder / top).symlink_to(source)
    return folder


def role_python(site_packages: Path, code: str, *, project: bool = True) -> list[str]:
    """A command running `code` isolated, with `site_packages` (and our `src`) as its libraries."""
    paths = [str(site_packages)] + ([str(REPO / "src")] if project else [])
    return [sys.executable, "-I", "-S", "-c", f"import sys\nsys.path += {paths!r}\n{code}"]


def role_cli(site_packages: Path) -> list[str]:
    """The `sentiment` console script on that role's libraries (append its arguments)."""
    return role_python(site_packages, "from sentiment_mlops.cli import main\nmain()\n")
