"""How pytest-xdist's workers share the tests: by file, except folders whose tests share
one costly per-worker fixture, which run on one worker whole; the longest units first.

`--dist loadfile` runs each module on one worker, so module-scoped fixtures are built once; but
a session fixture shared by several modules is built on every worker that runs one of them.
Two such fixtures cost seconds of CPU each: the session's Prefect API server (a process for the
whole session, `prefect_api` in tests/conftest.py), which the flow tests and the CLI tests of
`sentiment train` under Prefect share, and the registry tests' trained, logged and registered
model (tests/registry/conftest.py). Keeping the tests of each on one worker builds each once;
the other files are still balanced one by one.

The stack tests (tests/stack/) are one unit: their session stack (PostgreSQL databases, S3,
MLflow and Prefect servers, the API) is the costliest fixture of all, started once.

The Kubernetes manifest tests (tests/deploy/test_k8s_*.py) are one unit too: the training Job
they check is built by prefect-kubernetes' own code (tests/deploy/k8s.py), and importing it
with Prefect and the Kubernetes client costs ~7 CPU s in each process that builds a Job; the
Jobs are kept in pytest's cache, so only a run with an empty cache (a fresh checkout, CI)
builds them, and then on one worker instead of both.

Each worker takes the next unit when it is almost done with its own, so a long unit handed out
last keeps one worker busy while the other has nothing left. xdist hands out the units with the
most tests first, which is not the longest: tests/stack/ (64 tests) takes a third of the full
run, tests/flows/ (35) a seventh, a module of four tests over ten seconds. So the units go
out longest first, by the seconds each test took in the last run (kept in pytest's cache by
`DurationRecorder`); a test never run counts as `_UNKNOWN_S`, so a fresh checkout orders by
test count as xdist does.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

# Nodeid prefixes (relative to the rootdir) whose files run on one worker, mapped to their unit
# of work: the files under one prefix together, and with those of the prefixes of the same unit.
SHARED_FIXTURE_UNITS = {
    "tests/flows/": "tests/flows/",
    "tests/cli/test_train_user_errors.py": "tests/flows/",  # the same Prefect API server
    "tests/registry/": "tests/registry/",
    "tests/deploy/test_k8s_": "tests/deploy/test_k8s_",
    "tests/stack/": "tests/stack/",  # one stack a session (tests/stack/conftest.py)
}

# pytest's cache key of the seconds (setup, call and teardown) each test took when last run.
DURATIONS_KEY = "sentiment/test-seconds"
_UNKNOWN_S = 0.5


def split_scope(nodeid: str) -> str:
    """The unit of work of a test: its file, or the shared-fixture unit it is in."""
    path = nodeid.split("::", 1)[0]
    for prefix, unit in SHARED_FIXTURE_UNITS.items():
        if path.startswith(prefix):
            return unit
    return path


class SharedFixtureScheduling(LoadFileScheduling):
    """`loadfile`, with each of SHARED_FIXTURE_UNITS as one unit of work, longest first."""

    _ordered = False

    def _split_scope(self, nodeid: str) -> str:
        return split_scope(nodeid)

    def _assign_work_unit(self, node: Any) -> None:
        if not self._ordered:  # the first call: the queue holds every unit
            cache = _cache(self.config)
            seconds = cache.get(DURATIONS_KEY, {}) if cache is not None else {}

            def cost(unit: tuple[str, dict[str, bool]]) -> float:
                return sum(seconds.get(nodeid, _UNKNOWN_S) for nodeid in unit[1])

            units = sorted(self.workqueue.items(), key=cost, reverse=True)
            self.workqueue.clear()
            self.workqueue.update(units)
            self._ordered = True
        super()._assign_work_unit(node)


class DurationRecorder:
    """Keeps each test's seconds (setup, call and teardown) in pytest's cache, over those of
    the tests a run did not run, for the next run's order. A plugin of the process that
    reports the tests (xdist's controller, or a run without workers)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.seconds: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self) -> None:
        cache = _cache(self.config)
        if self.seconds and cache is not None:
            kept = cache.get(DURATIONS_KEY, {})
            new = {nodeid: round(value, 3) for nodeid, value in self.seconds.items()}
            cache.set(DURATIONS_KEY, kept | new)


def _cache(config: pytest.Config) -> Any:
    """pytest's cache, or None in a session run with its plugin off (`-p no:cacheprovider`),
    where `config` has no `cache` at all."""
    return getattr(config, "cache", None)
