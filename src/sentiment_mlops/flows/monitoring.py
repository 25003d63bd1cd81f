"""The Prefect flow `sentiment-monitoring`: compare served texts with the champion's own data.

Tasks, in order: `load-reference` (the champion and its held-out training rows, through its
MLflow run), `load-window` (its served predictions of the window, from the prediction log),
`compute-report` (Evidently), `decide` (`monitoring.rules.decide`), `log-report` (MLflow run,
Prefect artifact, the API's gauges) and `trigger-retraining` (`flows.retrain`). A window with
too few predictions is the outcome `nothing_to_compare`, logged like any other, not an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from sentiment_mlops.errors import UserError
from sentiment_mlops.flows import monitoring_log
from sentiment_mlops.flows.entry import entry_flow
from sentiment_mlops.flows.inputs import choose_params_path
from sentiment_mlops.flows.monitoring_log import CheckOutcome
from sentiment_mlops.flows.reference import Reference, load_reference
from sentiment_mlops.flows.retrain import retrain_if_due
from sentiment_mlops.monitoring import rules, tables, window
from sentiment_mlops.monitoring.drift import DriftReport, compute_drift
from sentiment_mlops.monitoring.feedback import live_accuracy
from sentiment_mlops.settings import Settings, get_settings

FLOW_NAME = "sentiment-monitoring"
logger = logging.getLogger(__name__)

StepRunner = Callable[..., Any]


def as_task(name: str, function: Callable[..., Any], *args: Any) -> Any:
    """Run one step as a Prefect task named `name` (inputs are frames: no caching)."""
    return task(name=name, cache_policy=NO_CACHE)(function)(*args)


def _load_window(
    engine: Any, reference: Reference, since: Any, params: rules.MonitoringParams
) -> Any:
    champion = reference.champion
    frame = window.load_window(
        engine, champion.name, champion.version, since, params.max_window_rows
    )
    hashed = int(frame["text"].isna().sum())
    logger.info(
        "window: %d predictions of v%s, %d of them logged without text (LOG_TEXTS=false)",
        len(frame),
        champion.version,
        hashed,
    )
    return frame


def _compute(
    reference: Reference, frame: Any, params: rules.MonitoringParams
) -> DriftReport | None:
    if len(frame) < params.min_window_rows:
        return None
    report = compute_drift(reference.frame, frame, reference.tokenize, reference.vocabulary, params)
    if report.text is None:
        logger.warning(
            "only %d of %d predictions have their text (LOG_TEXTS=false): compared length and "
            "class balance only",
            report.text_rows,
            report.window_rows,
        )
    return report


def _log(settings: Settings, outcome: CheckOutcome, report: DriftReport | None, engine: Any) -> str:
    run_id = monitoring_log.log_to_mlflow(settings, outcome, report)
    window.record_check(
        engine,
        window.CheckRecord(
            model_name=outcome.model_name,
            model_version=outcome.model_version,
            verdict=outcome.verdict,
            retrain=outcome.retrain,
            drift_score=outcome.drift_score,
            drifted_descriptors=len(report.drifted_descriptors) if report else 0,
            positive_share=report.positive_share_window if report else None,
            window_rows=outcome.window_rows,
            mlflow_run_id=run_id,
        ),
    )
    return run_id


def run_check(
    settings: Settings,
    window_text: str | None = None,
    retrain_on_drift: bool = False,
    model_name: str | None = None,
    params_path: Path | None = None,
    run_step: StepRunner = as_task,
) -> CheckOutcome:
    """One drift check, each step through `run_step`; returns what it found and did."""
    params = rules.load_monitoring_params(params_path or choose_params_path(settings))
    window_text = window_text or params.window
    rules.parse_window(window_text)  # a bad window stops before any store is opened
    if settings.prediction_log_url is None:
        raise UserError("PREDICTION_LOG_URL is off: no served predictions to monitor")
    engine = tables.make_engine(settings.prediction_log_url)
    try:
        return _check(settings, engine, params, window_text, retrain_on_drift, model_name, run_step)
    finally:
        engine.dispose()


def _check(
    settings: Settings,
    engine: Any,
    params: rules.MonitoringParams,
    window_text: str,
    retrain_on_drift: bool,
    model_name: str | None,
    run_step: StepRunner,
) -> CheckOutcome:
    since = rules.parse_window(window_text)
    name = model_name or settings.model_name
    reference = run_step("load-reference", load_reference, settings, name, params.reference_rows)
    frame = run_step("load-window", _load_window, engine, reference, since, params)
    report = run_step("compute-report", _compute, reference, frame, params)
    version = reference.champion.version
    accuracies = live_accuracy(engine, settings.feedback_window, name)
    live = next((a for a in accuracies if a.model_version == version), None)
    observed = rules.Observed(
        window_rows=len(frame),
        text_drift=report.text.drifted if report and report.text else None,
        drifted_descriptors=report.drifted_descriptors if report else (),
        live_accuracy=live.accuracy if live else None,
        labelled=live.labelled if live else 0,
    )
    decision = run_step("decide", rules.decide, observed, params)
    logger.info("verdict %s, retrain %s: %s", decision.verdict, decision.retrain, decision.reason)
    outcome = CheckOutcome(
        model_name=name,
        model_version=version,
        window=window_text,
        window_rows=len(frame),
        verdict=decision.verdict,
        retrain=decision.retrain,
        reason=decision.reason,
        live_accuracy=observed.live_accuracy,
        labelled=observed.labelled,
        report=report.summary() if report else None,
        reference={"data_path": reference.data_path, "dvc_md5": reference.dvc_md5},
    )
    run_id = run_step("log-report", _log, settings, outcome, report, engine)
    retraining = run_step(
        "trigger-retraining", retrain_if_due, settings, decision, retrain_on_drift
    )
    logger.info("retraining: %s", retraining.detail)
    monitoring_log.tag_retraining(settings, run_id, retraining.detail)
    outcome = CheckOutcome(
        **(outcome.as_dict() | {"mlflow_run_id": run_id, "retraining": retraining.detail})
    )
    monitoring_log.publish_artifact(outcome)
    return outcome


@entry_flow(FLOW_NAME)
def monitoring_flow(
    window: str | None = None,
    retrain_on_drift: bool = False,
    model_name: str | None = None,
    params_path: str | None = None,
) -> dict[str, Any]:
    """Compare the served window with the champion's data; retrain on drift if enabled."""
    params = Path(params_path) if params_path else None
    outcome = run_check(get_settings(), window, retrain_on_drift, model_name, params)
    return outcome.as_dict()
