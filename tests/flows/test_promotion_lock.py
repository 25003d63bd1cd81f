"""Only one champion decision runs at a time, with a Prefect server and without one."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from sentiment_mlops.flows.promotion_lock import LIMIT_NAME, champion_lock
from sentiment_mlops.settings import Settings


def _overlaps(
    settings: Settings, holders: int = 2, hold_s: float = 0.2
) -> list[tuple[float, float]]:
    """Run `holders` threads that each hold the lock for `hold_s`; return their (enter, exit).

    The threads ask for the lock together (a barrier), and each holder keeps it until every
    thread has asked, then `hold_s` more: a lock that lets two in shows as an overlap without
    a long hold (it was 0.5 s per holder with no barrier)."""
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()
    ready = threading.Barrier(holders)
    asked = [0]

    def hold() -> None:
        ready.wait(timeout=60)
        with lock:
            asked[0] += 1
        with champion_lock(settings):
            start = time.monotonic()
            all_asked = time.monotonic() + 60
            while asked[0] < holders and time.monotonic() < all_asked:
                time.sleep(0.005)
            time.sleep(hold_s)
            end = time.monotonic()
        with lock:
            spans.append((start, end))

    threads = [threading.Thread(target=hold) for _ in range(holders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return sorted(spans)


def _assert_serial(spans: list[tuple[float, float]]) -> None:
    assert len(spans) == 2
    (_, first_end), (second_start, _) = spans
    assert second_start >= first_end, f"lock held by two at once: {spans}"


def test_file_lock_serialises_without_a_prefect_server(tmp_path: Path) -> None:
    settings = Settings(prefect_home=tmp_path, prefect_api_url=None)
    _assert_serial(_overlaps(settings))


def test_prefect_global_limit_serialises_with_a_server(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    assert api_url, "the Prefect test harness provides a server"
    settings = Settings(prefect_home=tmp_path, prefect_api_url=api_url)
    _assert_serial(_overlaps(settings))
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(LIMIT_NAME)
    assert limit.limit == 1
    assert limit.active_slots == 0


@pytest.mark.parametrize("holders", [3])
def test_lock_is_released_after_an_error(tmp_path: Path, holders: int) -> None:
    settings = Settings(prefect_home=tmp_path, prefect_api_url=None)
    with pytest.raises(RuntimeError), champion_lock(settings):
        raise RuntimeError("promotion failed")
    assert len(_overlaps(settings, holders=holders, hold_s=0.1)) == holders
