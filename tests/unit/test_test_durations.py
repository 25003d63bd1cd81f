"""The test session's own bookkeeping: the seconds kept for ordering xdist's units of work."""

from __future__ import annotations

import pytest

from tests.support.scheduling import DurationRecorder


def test_a_session_without_pytest_cache_ends_without_an_error(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With `-p no:cacheprovider` pytest's config has no `cache` attribute at all.
    monkeypatch.delattr(request.config, "cache", raising=False)
    recorder = DurationRecorder(request.config)
    report = pytest.TestReport(
        "tests/a.py::test_a", ("tests/a.py", 0, "test_a"), {}, "passed", None, "call", duration=1.5
    )
    recorder.pytest_runtest_logreport(report)
    recorder.pytest_sessionfinish()  # raised AttributeError: the session ended in an error
    assert recorder.seconds == {"tests/a.py::test_a": 1.5}
