"""The registry's boundary: MLflow's exceptions become ours, so "no such model" (empty, or
NotFoundError) and "MLflow is down" (ServiceUnavailableError) never look alike."""

from __future__ import annotations

import pytest

from sentiment_mlops import registry
from sentiment_mlops.errors import NotFoundError, ServiceUnavailableError, user_error_message
from sentiment_mlops.settings import Settings
from tests.registry.conftest import LoggedModel
from tests.support.processes import free_port


@pytest.fixture
def down(monkeypatch: pytest.MonkeyPatch):
    """A client for an MLflow server that is not running (a closed port), failing fast."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://127.0.0.1:{free_port()}"
    return uri, registry.make_client(Settings(mlflow_tracking_uri=uri))


def test_missing_model_has_no_versions(logged: LoggedModel) -> None:
    assert registry.list_versions(logged.tracker.client, "no-such-model") == []


def test_down_server_is_not_an_empty_registry(down) -> None:
    uri, client = down
    with pytest.raises(ServiceUnavailableError) as error:
        registry.list_versions(client, "sentiment-classifier")
    assert user_error_message(error.value) == (
        f"cannot reach the MLflow tracking server at {uri} (is it running?)"
    )
    assert error.value.exit_code == 2


def test_unknown_run_has_no_metrics_but_a_down_server_is_an_error(
    logged: LoggedModel, down
) -> None:
    assert registry.run_metrics(logged.tracker.client, "0" * 32) == {}
    assert registry.run_metrics(logged.tracker.client, logged.run_id)["f1"] > 0
    with pytest.raises(ServiceUnavailableError):
        registry.run_metrics(down[1], logged.run_id)


def test_missing_version_is_not_found(logged: LoggedModel) -> None:
    with pytest.raises(NotFoundError, match="has no version 99") as error:
        registry.get_version(logged.tracker.client, "registry-test-model", "99")
    assert error.value.exit_code == 1
