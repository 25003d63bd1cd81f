"""Reload fan-out between replicas: one webhook delivery, and every replica serves the new version.

Three real API processes share one SQLite MLflow and poll the alias only every 600 s, so only
the fan-out (PostgreSQL LISTEN/NOTIFY through RELOAD_NOTIFY_URL) can explain a reload. They
reach a fresh database through a TCP proxy, which one test stops to play a PostgreSQL outage.
Each test waits for convergence with a generous deadline: timing is bench/fanout.py's business.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url

from sentiment_mlops import registry
from sentiment_mlops.serving.app import create_app
from sentiment_mlops.serving.fanout import CHANNEL, LISTENER_NAME, ReloadNotice, libpq_url
from sentiment_mlops.settings import Settings, SettingsError, get_settings
from tests.serving.helpers import (
    MlflowStore,
    alias_event,
    run_service,
    signed_delivery,
    wait_until,
)
from tests.support.postgres import fresh_database, server_address
from tests.support.processes import ServerProcess
from tests.support.tcp_proxy import TcpProxy

MODEL = "fanout-model"  # its own registered model: other tests keep their champion
REPLICAS = 3
# Trust authentication ignores it; it must show nowhere all the same.
PASSWORD = "fanout-db-password-x7"


@dataclass
class Replicas:
    services: list[ServerProcess]
    https: list[httpx.Client]
    database: str  # libpq URL of the database, directly (not through the proxy)
    proxy: TcpProxy

    def infos(self) -> list[dict[str, Any]]:
        return [http.get("/model-info").json() for http in self.https]

    def fanouts(self) -> list[dict[str, Any]]:
        return [info["reload_fanout"] for info in self.infos()]

    def all_serve(self, version: str) -> bool:
        return all(http.get("/health").json()["model_version"] == version for http in self.https)

    def all_settled(self) -> bool:
        """Every replica listens, serves, and has checked since it (re)connected: what follows
        is the fan-out's doing, not the check after a connect."""
        return all(map(_settled, self.infos()))


def _settled(info: dict[str, Any]) -> bool:
    fanout = info["reload_fanout"]
    if not (info["model_loaded"] and fanout["listening"] and info["last_check_at"]):
        return False
    return _time(info["last_check_at"]) >= _time(fanout["connected_at"])


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def replicas(
    mlflow_store: MlflowStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    client = mlflow_store.client()
    registry.promote(client, MODEL, mlflow_store.register(MODEL), "champion")
    root = tmp_path_factory.mktemp("fanout")
    with (
        fresh_database("fanout") as url,
        TcpProxy(server_address()) as proxy,
        ExitStack() as stack,
    ):
        proxied = make_url(url).set(port=proxy.port, password=PASSWORD)
        env = mlflow_store.env(
            MODEL_NAME=MODEL,
            MODEL_RELOAD_INTERVAL="600",
            RELOAD_NOTIFY_URL=proxied.render_as_string(hide_password=False),
            PREDICTION_LOG_URL="off",
        )
        services = [stack.enter_context(run_service(env, root)) for _ in range(REPLICAS)]
        https = [stack.enter_context(httpx.Client(base_url=s.url, timeout=10)) for s in services]
        group = Replicas(services, https, libpq_url(url), proxy)
        wait_until(group.all_settled, timeout=180)
        yield group
        for service in services:
            assert PASSWORD not in service.output()


def _promote_new_version(mlflow_store: MlflowStore) -> str:
    version = mlflow_store.register(MODEL)
    registry.promote(mlflow_store.client(), MODEL, version, "champion")
    return version


def _webhook(http: httpx.Client, version: str, **kwargs: Any) -> dict[str, Any]:
    response = http.post(
        "/webhooks/mlflow", **signed_delivery(alias_event(MODEL, version=version), **kwargs)
    )
    assert response.status_code == 200, response.text
    return response.json()


def _delta(after: list[dict[str, Any]], before: list[dict[str, Any]], *key: str) -> list[int]:
    """Per replica, how much the fan-out counter at `key` grew."""

    def value(state: Any) -> int:
        for part in key:
            state = state[part]
        return state

    return [value(a) - value(b) for a, b in zip(after, before, strict=True)]


@pytest.mark.slow
def test_one_webhook_reloads_every_replica(replicas: Replicas, mlflow_store: MlflowStore) -> None:
    before = replicas.fanouts()
    version = _promote_new_version(mlflow_store)
    ack = _webhook(replicas.https[0], version)
    assert ack["accepted"] is True and ack["fanned_out"] is True, ack
    wait_until(lambda: replicas.all_serve(version), timeout=60)

    after = replicas.fanouts()
    # The receiver checked at once and hears its own notice as a duplicate; the others apply it.
    assert _delta(after, before, "notices", "applied") == [0, 1, 1]
    assert _delta(after, before, "notices", "duplicate") == [1, 0, 0]
    assert _delta(after, before, "published", "sent") == [1, 0, 0]
    metrics = replicas.https[1].get("/metrics").text
    assert "sentiment_reload_fanout_listening 1.0" in metrics
    assert 'sentiment_reload_fanout_notices_total{outcome="applied"}' in metrics


@pytest.mark.slow
def test_listeners_reconnect_after_their_backend_is_terminated(
    replicas: Replicas, mlflow_store: MlflowStore
) -> None:
    before = replicas.fanouts()
    with psycopg.connect(replicas.database, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (LISTENER_NAME,),
        ).fetchall()
    assert len(killed) == REPLICAS

    def reconnected() -> bool:
        return all(
            a["connects"] > b["connects"] for a, b in zip(replicas.fanouts(), before, strict=True)
        )

    wait_until(reconnected, timeout=60)
    wait_until(replicas.all_settled, timeout=60)
    assert all(f["last_error"] for f in replicas.fanouts())  # why it reconnected, redacted

    mid = replicas.fanouts()
    version = _promote_new_version(mlflow_store)
    assert _webhook(replicas.https[1], version)["fanned_out"] is True
    wait_until(lambda: replicas.all_serve(version), timeout=60)
    assert _delta(replicas.fanouts(), mid, "notices", "applied") == [1, 0, 1]


@pytest.mark.slow
def test_notices_missed_during_an_outage_are_made_up_on_reconnect(
    replicas: Replicas, mlflow_store: MlflowStore
) -> None:
    """PostgreSQL unreachable: the receiver still reloads (and cannot notify); the others find
    the new version with the check they make once they listen again."""
    before = replicas.fanouts()
    replicas.proxy.stop()
    try:
        wait_until(lambda: not any(f["listening"] for f in replicas.fanouts()), timeout=60)
        version = _promote_new_version(mlflow_store)
        ack = _webhook(replicas.https[2], version)
        assert ack["accepted"] is True and ack["fanned_out"] is False, ack
        wait_until(lambda: replicas.https[2].get("/health").json()["model_version"] == version, 60)
    finally:
        replicas.proxy.start()
    wait_until(lambda: replicas.all_serve(version), timeout=60)
    after = replicas.fanouts()
    assert _delta(after, before, "notices", "applied") == [0, 0, 0]
    assert _delta(after, before, "published", "failed") == [0, 0, 1]
    assert all(delta >= 1 for delta in _delta(after, before, "connects"))
    for info in replicas.infos():
        assert PASSWORD not in str(info)


@pytest.mark.slow
def test_only_verified_new_deliveries_are_sent_to_the_replicas(replicas: Replicas) -> None:
    """A bad signature, another model's event and a replayed delivery notify nobody: the
    test's own listener hears exactly the two good deliveries, in order."""
    wait_until(replicas.all_settled, timeout=60)
    http = replicas.https[0]
    version = http.get("/health").json()["model_version"]
    event = alias_event(MODEL, version=version)
    with psycopg.connect(replicas.database, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        bad = http.post("/webhooks/mlflow", **signed_delivery(event, secret="wrong"))
        assert bad.status_code == 401
        assert _webhook(http, version, delivery_id="good-1")["fanned_out"] is True
        other = http.post("/webhooks/mlflow", **signed_delivery(alias_event("other", version="1")))
        assert other.json()["accepted"] is False and other.json()["fanned_out"] is False
        replay = http.post("/webhooks/mlflow", **signed_delivery(event, delivery_id="good-1"))
        assert replay.json()["reason"] == "duplicate delivery"
        assert _webhook(http, version, delivery_id="good-2")["fanned_out"] is True
        heard = [
            ReloadNotice.from_payload(n.payload)
            for n in listener.notifies(timeout=60, stop_after=2)
        ]
    assert heard == [
        ReloadNotice(MODEL, "champion", version, "good-1"),
        ReloadNotice(MODEL, "champion", version, "good-2"),
    ]


def test_without_the_setting_nothing_listens(mlflow_store: MlflowStore) -> None:
    settings = mlflow_store.settings(model_reload_interval=3600, prediction_log_url=None)
    with TestClient(create_app(settings)) as http:
        fanout = http.get("/model-info").json()["reload_fanout"]
        assert fanout["enabled"] is False and fanout["listening"] is False
        assert "sentiment_reload_fanout" not in http.get("/metrics").text
        ack = http.post("/webhooks/mlflow", **signed_delivery(alias_event()))
        assert ack.json()["accepted"] is True and ack.json()["fanned_out"] is False


@pytest.mark.parametrize(
    "payload",
    ["not json", "[1]", '{"model": "m"}', '{"alias": "a", "delivery_id": "d"}', "null"],
)
def test_other_payloads_are_not_notices(payload: str) -> None:
    assert ReloadNotice.from_payload(payload) is None


def test_a_notice_survives_its_payload() -> None:
    notice = ReloadNotice("m", "champion", "7", "d-1")
    assert ReloadNotice.from_payload(notice.to_payload()) == notice


def test_the_url_must_be_postgresql(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("RELOAD_NOTIFY_URL", "mysql://user:hunter2@db/x")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match=r"^RELOAD_NOTIFY_URL: must be a PostgreSQL") as e:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert "hunter2" not in str(e.value)
    url = "postgresql+psycopg://u:p@h:5/d"
    assert Settings(_env_file=None, reload_notify_url=url).reload_notify_url == url  # type: ignore[call-arg]
    assert libpq_url(url) == "postgresql://u:p@h:5/d"
