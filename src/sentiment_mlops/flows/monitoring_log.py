"""Where a drift check's outcome goes: one MLflow run, a Prefect artifact, a row for the API.

The MLflow run (experiment `MONITORING_EXPERIMENT_NAME`, tagged with the champion's name and
version) holds the Evidently HTML report, the JSON summary, the metrics and the decision; the
Prefect markdown artifact repeats the summary table in the flow run's page; the row in the
prediction log store's `drift_checks` feeds the API's `sentiment_drift_*` gauges.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sentiment_mlops import registry
from sentiment_mlops.monitoring.drift import DriftReport
from sentiment_mlops.settings import Settings

REPORT_FILE = "drift_report.html"
SUMMARY_FILE = "drift_summary.json"
ARTIFACT_KEY = "sentiment-drift-check"


@dataclass(frozen=True)
class CheckOutcome:
    """Everything one check found and decided; serialisable (the flow returns it)."""

    model_name: str
    model_version: str
    window: str
    window_rows: int
    verdict: str
    retrain: bool
    reason: str
    live_accuracy: float | None
    labelled: int
    report: dict[str, Any] | None = None  # `DriftReport.summary()`, None when nothing compared
    reference: dict[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    retraining: str | None = None

    @property
    def drift_score(self) -> float | None:
        text = (self.report or {}).get("text")
        return float(text["score"]) if text else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def metrics_of(outcome: CheckOutcome) -> dict[str, float]:
    """The check's numbers as MLflow metrics (absent values left out)."""
    values: dict[str, float | None] = {
        "drift_detected": float(outcome.verdict == "drift"),
        "retrain": float(outcome.retrain),
        "window_rows": float(outcome.window_rows),
        "drift_score": outcome.drift_score,
        "live_accuracy": outcome.live_accuracy,
        "live_labelled": float(outcome.labelled),
    }
    report = outcome.report
    if report:
        values["drifted_descriptors"] = float(len(report["drifted_descriptors"]))
        values["positive_share_window"] = report["positive_share_window"]
        values["positive_share_reference"] = report["positive_share_reference"]
        values["text_rows"] = float(report["text_rows"])
        values["reference_rows"] = float(report["reference_rows"])
        for column in (*report["descriptors"], report["class_balance"]):
            values[f"drift_score.{column['column']}"] = column["score"]
    return {name: value for name, value in values.items() if value is not None}


def log_to_mlflow(settings: Settings, outcome: CheckOutcome, report: DriftReport | None) -> str:
    """One run in the monitoring experiment; returns its id."""
    client = registry.make_client(settings)
    experiment_id = registry.ensure_experiment(client, settings, settings.monitoring_experiment)
    tags = {
        "model.name": outcome.model_name,
        "model.version": outcome.model_version,
        "verdict": outcome.verdict,
        "retrain": str(outcome.retrain).lower(),
        "decision.reason": outcome.reason[:5000],
    } | {
        f"reference.{key}": str(value)
        for key, value in outcome.reference.items()
        if value is not None
    }
    run = client.create_run(
        experiment_id,
        tags=tags,
        run_name=f"v{outcome.model_version} {outcome.window} {outcome.verdict}",
    )
    run_id = run.info.run_id
    client.log_param(run_id, "window", outcome.window)
    for name, value in metrics_of(outcome).items():
        client.log_metric(run_id, name, value)
    client.log_dict(run_id, outcome.as_dict(), SUMMARY_FILE)
    if report is not None:
        with tempfile.TemporaryDirectory(prefix="sentiment-drift-") as folder:
            path = Path(folder) / REPORT_FILE
            report.save_html(str(path))
            client.log_artifact(run_id, str(path))
    client.set_terminated(run_id)
    return run_id


def tag_retraining(settings: Settings, run_id: str, detail: str) -> None:
    """Add what the check did about retraining to its run, once that is known."""
    registry.make_client(settings).set_tag(run_id, "retraining", detail[:5000])


def summary_markdown(outcome: CheckOutcome) -> str:
    """The summary table of the Prefect artifact (and of nothing else: the CLI prints lines)."""
    rows = [
        ("model", f"{outcome.model_name} v{outcome.model_version}"),
        ("window", f"{outcome.window}: {outcome.window_rows} served predictions"),
        ("verdict", f"**{outcome.verdict}**"),
        ("retrain", str(outcome.retrain).lower()),
        ("reason", outcome.reason),
        ("drift score (domain classifier ROC AUC)", _number(outcome.drift_score)),
        ("live accuracy", f"{_number(outcome.live_accuracy)} over {outcome.labelled} labels"),
    ]
    report = outcome.report
    if report:
        for column in (*report["descriptors"], report["class_balance"]):
            drifted = "drifted" if column["drifted"] else "stable"
            rows.append(
                (
                    f"{column['column']} ({column['method']})",
                    f"{column['score']:.4g} vs {column['threshold']:g}: {drifted}",
                )
            )
        rows.append(
            (
                "positive share",
                f"{report['positive_share_window']:.3f} served, "
                f"{report['positive_share_reference']:.3f} reference",
            )
        )
    if outcome.mlflow_run_id:
        rows.append(("MLflow run", f"`{outcome.mlflow_run_id}` ({REPORT_FILE})"))
    lines = ["| check | value |", "| --- | --- |"]
    lines += [f"| {name} | {value.replace('|', '/')} |" for name, value in rows]
    return "\n".join(lines)


def publish_artifact(outcome: CheckOutcome) -> None:
    """The summary as a markdown artifact of the current Prefect flow run (if there is one)."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return
    create_markdown_artifact(
        summary_markdown(outcome), key=ARTIFACT_KEY, description="Drift and quality check"
    )


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
