"""A log store that goes away never breaks serving, and the writer catches up when it returns.

The service reaches a fresh PostgreSQL database through a TCP proxy; stopping the proxy makes
the store unreachable (new connections refused, open ones cut).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.serving.helpers import MlflowStore, wait_until
from tests.serving.log_support import LoggedService, logged_service
from tests.support.postgres import fresh_database, server_address
from tests.support.tcp_proxy import TcpProxy

TEXT = "A wonderful, moving film. The cast is brilliant and I loved every minute of it."
QUEUE_SIZE = 20


def _written(service: LoggedService) -> float:
    return service.metric("sentiment_prediction_log_written_total") or 0.0


@pytest.mark.slow  # two servers, an outage and a catch-up: about 16 s
def test_predictions_survive_an_unreachable_store(
    mlflow_store: MlflowStore, tmp_path: Path
) -> None:
    with fresh_database("predlog_outage") as url, TcpProxy(server_address()) as proxy:
        proxied = make_url(url).set(port=proxy.port).render_as_string(hide_password=False)
        with logged_service(
            mlflow_store,
            tmp_path,
            proxied,
            PREDICTION_LOG_QUEUE_SIZE=str(QUEUE_SIZE),
            PREDICTION_LOG_FLUSH_INTERVAL="0.05",
        ) as service:
            for i in range(5):
                assert service.http.post("/predict", json={"text": f"{TEXT} {i}"}).is_success
            wait_until(lambda: service.count() == 5, timeout=30)

            proxy.stop()
            answers = [
                service.http.post("/predict", json={"text": f"{TEXT} {i}"}) for i in range(60)
            ]
            assert [a.status_code for a in answers] == [200] * 60
            kept = [a.json()["prediction_id"] for a in answers if a.json()["prediction_id"]]
            wait_until(lambda: service.metric("sentiment_prediction_log_write_errors_total"), 30)
            dropped = service.metric("sentiment_prediction_log_dropped_total")
            # Held: the queue, and the batch the writer took before the store went away.
            assert dropped == 60 - len(kept) and dropped > 0 and len(kept) >= QUEUE_SIZE
            assert _written(service) == 5
            # Feedback cannot be stored now: 503, not a 404 for a prediction it cannot see.
            feedback = {"prediction_id": kept[-1], "label": "positive"}
            response = service.http.post("/feedback", json=feedback)
            assert response.status_code == 503 and response.headers["retry-after"]
            assert service.http.get("/health").status_code == 200
            assert service.http.get("/model-info").json()["live_accuracy"] is None

            proxy.start()
            wait_until(lambda: _written(service) == 5 + len(kept), timeout=60)
            assert service.count() == 5 + len(kept)
            assert set(service.rows(kept)) == set(kept)
            assert service.metric("sentiment_prediction_log_queue_depth") == 0
            assert service.http.post("/feedback", json=feedback).status_code == 200
