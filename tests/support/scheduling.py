"""How pytest-xdist's workers share the quick set: by file, except folders whose tests share
one costly per-worker fixture, which run on one worker whole.

`--dist loadfile` runs each module on one worker, so module-scoped fixtures are built once; but
a session fixture shared by several modules is built on every worker that runs one of them.
Two such fixtures cost seconds of CPU each: the flow tests' Prefect API server (a process for
the whole session, tests/flows/conftest.py) and the registry tests' trained, logged and
registered model (tests/registry/conftest.py). Keeping each of those folders on one worker
builds each once; the other files are still balanced one by one.

The Kubernetes manifest tests (tests/deploy/test_k8s_*.py) are one unit too: the training Job
they check is built by prefect-kubernetes' own code (tests/deploy/k8s.py), and importing it
with Prefect and the Kubernetes client costs ~7 CPU s in each process that builds a Job; the
Jobs are kept in pytest's cache, so only a run with an empty cache (a fresh checkout, CI)
builds them, and then on one worker instead of both.
"""

from __future__ import annotations

from xdist.scheduler import LoadFileScheduling

# Nodeid prefixes (relative to the rootdir) whose files run on one worker, each prefix whole.
SHARED_FIXTURE_FOLDERS = ("tests/flows/", "tests/registry/", "tests/deploy/test_k8s_")


class SharedFixtureScheduling(LoadFileScheduling):
    """`loadfile`, with each of SHARED_FIXTURE_FOLDERS as one unit of work."""

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        for folder in SHARED_FIXTURE_FOLDERS:
            if path.startswith(folder):
                return folder
        return path
