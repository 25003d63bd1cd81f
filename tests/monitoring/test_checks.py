"""The drift checks the API exports: the newest compared check of each model."""

from __future__ import annotations

from pathlib import Path

from sentiment_mlops.monitoring import tables
from sentiment_mlops.monitoring.window import CheckRecord, latest_checks, record_check


def _check(name: str, version: str, verdict: str, score: float | None) -> CheckRecord:
    return CheckRecord(
        model_name=name,
        model_version=version,
        verdict=verdict,
        retrain=verdict == "drift",
        drift_score=score,
        drifted_descriptors=0,
        positive_share=0.5,
        window_rows=100,
        mlflow_run_id=f"run-{name}-{version}-{verdict}",
    )


def test_latest_compared_check_of_each_model(tmp_path: Path) -> None:
    engine = tables.make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    tables.create_tables(engine)
    for check in (
        _check("a", "1", "drift", 0.99),
        _check("a", "2", "no_drift", 0.52),  # the new champion, checked: v1's drift is history
        _check("a", "2", "nothing_to_compare", None),  # an empty window keeps the last verdict
        _check("b", "7", "drift", 0.97),
    ):
        record_check(engine, check)
    found = {(c.model_name, c.model_version, c.verdict) for c in latest_checks(engine)}
    assert found == {("a", "2", "no_drift"), ("b", "7", "drift")}
    (b,) = (c for c in latest_checks(engine) if c.model_name == "b")
    assert b.drift_score == 0.97
    assert b.checked_at is not None and b.checked_at.tzinfo is not None
    engine.dispose()
