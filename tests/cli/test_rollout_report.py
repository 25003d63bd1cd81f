"""`sentiment rollout report` on a real prediction log and a real MLflow store (issue 13 part 3).

The log is written as the API writes it (the same tables; shadow scores share the text hash and
time of the champion answer they shadow), then read back by the command.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from sqlalchemy import insert

from sentiment_mlops.monitoring import tables
from sentiment_mlops.monitoring.rollout_report import (
    VariantStats,
    build_report,
    recommend,
)
from tests.support.cli import sentiment

NAME = "report-model"


def _row(i: int, variant: str, version: str, label: str, at: datetime, kind: str) -> dict[str, Any]:
    return {
        "id": f"{variant[:2]}{kind[:2]}{i:028d}", "created_at": at, "model_name": NAME,
        "model_version": version, "text": None, "text_sha256": f"{i:064d}", "text_length": 5,
        "p_negative": 0.2, "p_positive": 0.8, "label": label,
        "latency_ms": 2.0 if variant == "champion" else 3.0, "request_kind": kind,
        "variant": variant,
    }  # fmt: skip


def _fill_shadow_log(url: str, texts: int, labelled: int) -> None:
    """`texts` champion answers (v1, all positive), each shadowed by v2, which says negative on
    every tenth; the first `labelled` answers get the true label positive."""
    engine = tables.make_engine(url)
    tables.create_tables(engine)
    now = datetime.now(UTC)
    rows, feedback = [], []
    for i in range(texts):
        at = now - timedelta(seconds=i)
        rows.append(_row(i, "champion", "1", "positive", at, "single"))
        shadow_label = "negative" if i % 10 == 0 else "positive"
        rows.append(_row(i, "challenger", "2", shadow_label, at, "shadow"))
        if i < labelled:
            feedback.append(
                {"prediction_id": rows[-2]["id"], "label": "positive", "received_at": now}
            )
    with engine.begin() as connection:
        connection.execute(insert(tables.predictions), rows)
        connection.execute(insert(tables.feedback), feedback)
    engine.dispose()


def test_report_pairs_shadow_scores_with_champion_answers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    _fill_shadow_log(url, texts=300, labelled=100)
    engine = tables.make_engine(url)
    report = build_report(engine, NAME, datetime.now(UTC) - timedelta(hours=1))
    engine.dispose()
    champion, challenger = report.variants
    assert (champion.versions, challenger.versions) == (("1",), ("2",))
    assert champion.requests == challenger.requests == 300
    assert report.compared == 300 and report.agreement == pytest.approx(0.9)
    assert champion.labelled == challenger.labelled == 100
    assert champion.accuracy == 1.0 and challenger.accuracy == pytest.approx(0.9)
    assert (champion.p50_ms, challenger.p99_ms) == (2.0, 3.0)
    assert report.recommendation == "clear"  # 10 points of live accuracy lost


def _stats(variant: str, requests: int, labelled: int, accuracy: float | None) -> VariantStats:
    return VariantStats(variant, ("1",), requests, labelled, accuracy, 2.0, 4.0)


@pytest.mark.parametrize(
    ("challenger", "agreement", "expected"),
    [
        (_stats("challenger", 10, 0, None), 1.0, "wait"),  # too little traffic
        (_stats("challenger", 500, 80, 0.91), None, "promote"),  # at least as accurate
        (_stats("challenger", 500, 80, 0.89), None, "wait"),  # within the allowed drop
        (_stats("challenger", 500, 80, 0.80), None, "clear"),  # clearly worse
        (_stats("challenger", 500, 10, 0.99), 0.97, "promote"),  # few labels, agrees
        (_stats("challenger", 500, 10, 0.99), 0.70, "wait"),  # few labels, disagrees
        (VariantStats("challenger", ("2",), 500, 80, 0.95, 2.0, 20.0), None, "clear"),  # slow
    ],
)
def test_recommendation_follows_the_documented_thresholds(
    challenger: VariantStats, agreement: float | None, expected: str
) -> None:
    champion = _stats("champion", 500, 80, 0.90)
    assert recommend(champion, challenger, agreement)[0] == expected


@pytest.mark.slow
def test_report_promote_acts_only_on_a_promote_recommendation(
    migrated_store_env: dict[str, str], tmp_path: Path
) -> None:
    uri = migrated_store_env["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(NAME)
    for _ in range(2):
        client.create_model_version(NAME, source=str(tmp_path))
    client.set_registered_model_alias(NAME, "champion", "1")
    client.set_registered_model_alias(NAME, "challenger", "2")
    log = f"sqlite:///{tmp_path / 'predictions.db'}"
    _fill_shadow_log(log, texts=300, labelled=100)
    env = migrated_store_env | {"PREDICTION_LOG_URL": log, "MODEL_NAME": NAME}

    refused = sentiment("rollout", "report", "--promote", env=env, cwd=tmp_path)
    assert refused.returncode == 1, refused.stderr
    assert "recommendation: clear" in refused.stdout
    assert refused.stderr.strip() == "error: not promoted: the recommendation is clear"
    assert client.get_registered_model(NAME).aliases == {"champion": 1, "challenger": 2}

    # The same traffic where the challenger is right wherever it disagrees: promote.
    engine = tables.make_engine(log)
    with engine.begin() as connection:
        connection.execute(tables.feedback.delete())
        connection.execute(tables.predictions.update().values(label="negative"))
    engine.dispose()
    _label_all_negative_except_every_tenth(log)
    done = sentiment("rollout", "report", "--promote", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "recommendation: promote" in done.stdout
    assert f"{NAME}@champion -> version 2 (was version 1)" in done.stdout
    assert client.get_registered_model(NAME).aliases == {"champion": 2, "previous": 1}


def _label_all_negative_except_every_tenth(url: str) -> None:
    """Every champion answer is now negative; v2 says positive on every tenth, where the
    true label (on the first 100 answers) is positive: v2 is right more often."""
    engine = tables.make_engine(url)
    p = tables.predictions
    with engine.begin() as connection:
        shadows = connection.execute(p.select().where(p.c.request_kind == "shadow")).all()
        for row in shadows:
            label = "positive" if int(row.text_sha256) % 10 == 0 else "negative"
            connection.execute(p.update().where(p.c.id == row.id).values(label=label))
        answers = connection.execute(
            p.select().where(p.c.request_kind == "single").order_by(p.c.created_at.desc())
        ).all()[:100]
        connection.execute(
            insert(tables.feedback),
            [
                {
                    "prediction_id": row.id,
                    "label": "positive" if int(row.text_sha256) % 10 == 0 else "negative",
                    "received_at": datetime.now(UTC),
                }
                for row in answers
            ],
        )
    engine.dispose()
