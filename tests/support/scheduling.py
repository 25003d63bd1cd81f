"""How pytest-xdist's workers share the quick set: by file, except folders whose tests share
one costly per-worker fixture, which run on one worker whole.

`--dist loadfile` runs each module on one worker, so module-scoped fixtures are built once; but
a session fixture shared by several modules is built on every worker that runs one of them.
Two such fixtures cost seconds of CPU each: the flow tests' Prefect API server (a process for
the whole session, tests/flows/conftest.py) and the registry tests' trained, logged and
registered model (tests/registry/conftest.py). Keeping each of those folders on one worker
builds each once; the other files are still balanced one by one.
"""

from __future__ import annotations

from xdist.scheduler import LoadFileScheduling

# Folders run on one worker each (nodeid prefixes, relative to the rootdir).
SHARED_FIXTURE_FOLDERS = ("tests/flows/", "tests/registry/")


class SharedFixtureScheduling(LoadFileScheduling):
    """`loadfile`, with each of SHARED_FIXTURE_FOLDERS as one unit of work."""

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        for folder in SHARED_FIXTURE_FOLDERS:
            if path.startswith(folder):
                return folder
        return path
