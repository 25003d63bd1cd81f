"""Schemathesis against a real server with a model: the OpenAPI schema states the real limits.

Every request the schema allows must be answered 2xx, every request it forbids 4xx, and no
answer may be a 5xx or differ from the documented responses. Examples are bounded and
derandomized, so a run is repeatable and takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.serving.helpers import MlflowStore, run_service, wait_until
from tests.serving.log_support import LoggedService
from tests.support.processes import ServerProcess

if TYPE_CHECKING:
    import schemathesis

# Schemathesis and Hypothesis are imported where the examples run, not when pytest collects
# this module on each worker (~2 s); their pytest plugins are off (pyproject.toml): `_fuzz`
# calls Hypothesis itself.
POSITIVE, NEGATIVE = "positive", "negative"  # schemathesis.GenerationMode's values

BODIES = [("POST", "/predict"), ("POST", "/predict/batch")]
READS = [("GET", path) for path in ("/health", "/health/live", "/model-info", "/metrics")]


@pytest.fixture(scope="module")
def service(
    mlflow_store: MlflowStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The API serving the champion, with small limits so that examples reach them."""
    env = mlflow_store.env(MAX_TEXT_CHARS="300", MAX_BATCH_SIZE="4")
    with run_service(env, tmp_path_factory.mktemp("fuzz")) as server:
        wait_until(lambda: httpx.get(f"{server.url}/health").status_code == 200, timeout=60)
        yield server


def _fuzz(url: str, method: str, path: str, mode: str) -> list[int]:
    """Run the examples of one operation in one mode (POSITIVE or NEGATIVE) against the server
    at `url`; the status codes seen."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    fuzz = settings(
        max_examples=50,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    generation_mode = schemathesis.GenerationMode(mode)
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operation = schema[path][method]
    seen: list[int] = []

    @fuzz
    @given(case=operation.as_strategy(generation_mode=generation_mode))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=url, timeout=30)
        seen.append(response.status_code)
        case.validate_response(response, checks=checks)
        if mode == POSITIVE:
            assert 200 <= response.status_code < 300, (case.body, response.text)
        else:
            assert 400 <= response.status_code < 500, (case.body, response.text)

    run()
    return seen


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), BODIES)
@pytest.mark.parametrize("mode", [POSITIVE, NEGATIVE])
def test_bodies_the_schema_allows_are_answered_and_others_refused(
    service: ServerProcess, method: str, path: str, mode: str
) -> None:
    seen = _fuzz(service.url, method, path, mode)
    assert len(seen) >= 20  # the examples really ran


@pytest.mark.parametrize(("method", "path"), READS)
def test_read_endpoints_answer_as_documented(
    sqlite_logged: LoggedService, method: str, path: str
) -> None:
    """The reads depend on no limit: the session's served API answers them."""
    url = str(sqlite_logged.http.base_url).rstrip("/")
    assert set(_fuzz(url, method, path, POSITIVE)) == {200}


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), [("POST", "/feedback"), ("POST", "/feedback/batch")])
def test_feedback_bodies_the_schema_forbids_are_refused(
    service: ServerProcess, method: str, path: str
) -> None:
    """Valid feedback names unknown ids here (a documented 404), so only the negative mode."""
    seen = _fuzz(service.url, method, path, NEGATIVE)
    assert len(seen) >= 20
