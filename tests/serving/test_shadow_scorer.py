"""The shadow scorer's hand-off in a real app on a real SQLite MLflow (issue 13 part 4).

The challenger is the champion's model registered again: these tests are about how texts reach
the scorer process and how its scores come back, not about what they say
(tests/serving/test_rollout.py compares two distinguishable versions).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sentiment_mlops import registry
from sentiment_mlops.serving.app import create_app
from sentiment_mlops.serving.shadow_child import MODEL, TEXT, frame, split_frames
from tests.serving.helpers import MlflowStore, wait_until
from tests.support.rollout import TEXTS, answers_without_ids

MODEL_NAME = "shadow-model"  # its own registered model: other tests keep their aliases


@pytest.fixture(scope="module")
def challenger(mlflow_store: MlflowStore) -> Iterator[str]:
    client = mlflow_store.client()
    registry.promote(client, MODEL_NAME, mlflow_store.register(MODEL_NAME), "champion")
    version = mlflow_store.register(MODEL_NAME)
    registry.set_alias(client, MODEL_NAME, "challenger", version)
    yield version
    registry.delete_alias(client, MODEL_NAME, "challenger")


def _api(store: MlflowStore, mode: str, **overrides: object) -> TestClient:
    settings = store.settings(
        model_name=MODEL_NAME, rollout_mode=mode, prediction_log_url="off", **overrides
    )
    return TestClient(create_app(settings))


def _metric(http: TestClient, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", http.get("/metrics").text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _compared(http: TestClient) -> float:
    return sum(
        _metric(http, f'sentiment_shadow_comparisons_total{{agreement="{a}"}}')
        for a in ("agree", "disagree")
    )


def _serve_and_score(http: TestClient, version: str, mode: str) -> None:
    """Wait for both models, answer the test texts and, in shadow mode, wait for their scores
    (the scorer is a process that starts, imports and loads the challenger first). The two
    stores load independently: the challenger can be served before the champion, whose
    requests get 503 until it is."""
    wait_until(lambda: _metric(http, "sentiment_challenger_version") == float(version), 60)
    wait_until(lambda: http.get("/health").status_code == 200, 60)
    answers_without_ids(http)
    if mode == "shadow":
        wait_until(lambda: _compared(http) == 2 * len(TEXTS), timeout=120)


@pytest.mark.slow  # a shadow scorer process: over a second of CPU
def test_shadow_adds_no_thread_to_the_server(mlflow_store: MlflowStore, challenger: str) -> None:
    """A thread in the server that wants the GIL delays the event loop, and with it the
    champion's answers: shadow mode has the threads canary mode has (the same two stores), and
    still scores every text."""

    def threads_while_serving(mode: str) -> list[str]:
        before = set(threading.enumerate())
        with _api(mlflow_store, mode) as http:
            _serve_and_score(http, challenger, mode)
            started = set(threading.enumerate()) - before
            # Workers of the thread pool come and go with blocking calls, in both modes; names
            # may end in an id (the test client's "asyncio-portal-7f11c29d9090").
            names = (t.name for t in started if not t.name.startswith("AnyIO worker"))
            return sorted(re.sub(r"[0-9a-f]{6,}|\d+", "#", name) for name in names)

    assert threads_while_serving("shadow") == threads_while_serving("canary")


@pytest.mark.slow  # a shadow scorer process: over a second of CPU
def test_the_scorer_imports_the_servers_package_whatever_sys_path_holds(
    mlflow_store: MlflowStore, challenger: str, tmp_path: Path
) -> None:
    """A pyfunc load leaves a model's code folder, a partial `sentiment_mlops`, first on the
    server's `sys.path` (tests/conftest.py restores it after each test): the scorer must still
    import the server's own package."""
    (tmp_path / "sentiment_mlops").mkdir()
    (tmp_path / "sentiment_mlops" / "__init__.py").write_text('"""Model code only."""\n')
    sys.path.insert(0, str(tmp_path))
    with _api(mlflow_store, "shadow") as http:
        _serve_and_score(http, challenger, "shadow")
        assert _metric(http, "sentiment_shadow_scorer_restarts_total") == 0


@pytest.mark.slow  # a shadow scorer process: over a second of CPU
def test_a_stalled_scorer_costs_drops_not_waits(mlflow_store: MlflowStore, challenger: str) -> None:
    """With the scorer stopped (SIGSTOP) its pipe fills up; the server keeps answering, keeps
    what it could not write and drops (counts) new texts; once the scorer runs again every
    text that was not dropped is scored, in order."""
    with _api(mlflow_store, "shadow", shadow_queue_size=100_000) as http:
        _serve_and_score(http, challenger, "shadow")
        scorer = http.app.state.rollout.scorer  # type: ignore[attr-defined]
        long_texts = [f"{text} " * 200 for text in TEXTS] * 16  # 64 texts, about 0.5 MB
        posted = 2 * len(TEXTS)
        os.kill(scorer.pid, signal.SIGSTOP)
        try:

            def dropping() -> bool:
                nonlocal posted
                answer = http.post("/predict/batch", json={"texts": long_texts})
                assert answer.status_code == 200, answer.text
                posted += len(long_texts)
                return _metric(http, "sentiment_shadow_dropped_total") > 0

            wait_until(dropping, timeout=120, interval=0)
        finally:
            os.kill(scorer.pid, signal.SIGCONT)
        dropped = _metric(http, "sentiment_shadow_dropped_total")
        wait_until(lambda: _compared(http) == posted - dropped, timeout=180)
        assert _metric(http, "sentiment_shadow_queue_depth") == 0
        assert _metric(http, "sentiment_shadow_lost_total") == 0
        assert _metric(http, "sentiment_shadow_scorer_restarts_total") == 0


@pytest.mark.parametrize("cut", [0, 1, 4, 5, 6, 12, 13])
def test_frames_split_anywhere_come_out_whole_and_in_order(cut: int) -> None:
    """A pipe read may end inside a header or a payload: the rest waits for the next read."""
    frames = [frame(MODEL, b"ref"), frame(TEXT, "caf\u00e9".encode()), frame(TEXT, b"")]
    data = b"".join(frames)
    buffer = bytearray(data[:cut])
    found = split_frames(buffer)
    buffer += data[cut:]
    found += split_frames(buffer)
    assert found == [(MODEL, b"ref"), (TEXT, "caf\u00e9".encode()), (TEXT, b"")]
    assert buffer == b""
