"""`sentiment monitor`: one drift and quality check of the champion, as a Prefect flow run.

Like `sentiment train`, it starts Prefect's local server when no `PREFECT_API_URL` is set. It
prints the verdict and its reasons; an empty window is the outcome "nothing to compare" (exit
0), and errors (no champion, no training data, an unreachable store) end with one line.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sentiment_mlops.cli.runtime import (
    ModelNameOption,
    configure_logging,
    exit_on_sigterm,
    start_local_prefect,
)
from sentiment_mlops.settings import get_settings

monitor_app = typer.Typer()


@monitor_app.command()
def monitor(
    window: Annotated[
        str | None,
        typer.Option(help="Served predictions of the last 30m, 24h, 7d... (default: params.yaml)"),
    ] = None,
    retrain_on_drift: Annotated[
        bool,
        typer.Option(
            "--retrain-on-drift",
            help="Start a retraining (champion gate included) when the check calls for one",
        ),
    ] = False,
    model_name: ModelNameOption = None,
) -> None:
    """Compare served texts with the champion's training data (Evidently); log the report."""
    from sentiment_mlops.monitoring.rules import parse_window

    settings = get_settings()
    configure_logging(settings)
    exit_on_sigterm()
    if window is not None:
        parse_window(window)  # a bad value ends here, before any server starts
    local_server = start_local_prefect(settings)
    from sentiment_mlops.flows.monitoring import monitoring_flow

    if local_server is not None:
        local_server.wait_ready()
    outcome = monitoring_flow(
        window=window, retrain_on_drift=retrain_on_drift, model_name=model_name
    )
    for line in outcome_lines(outcome):
        typer.echo(line)


def outcome_lines(outcome: dict[str, Any]) -> list[str]:
    """The check in a few lines: what was compared, the verdict and why, what was done."""
    head = (
        f"{outcome['model_name']} v{outcome['model_version']}, window {outcome['window']}: "
        f"{outcome['window_rows']} served predictions"
    )
    if outcome["verdict"] == "nothing_to_compare":
        lines = [head, f"nothing to compare: {outcome['reason']}"]
    else:
        report = outcome["report"]
        text = report["text"]
        lines = [
            head,
            f"verdict: {outcome['verdict']} ({outcome['reason']})",
            "drift score (domain classifier ROC AUC): "
            + (f"{text['score']:.3f}" if text else "n/a, no texts logged (LOG_TEXTS=false)"),
            f"drifted descriptors: {', '.join(report['drifted_descriptors']) or 'none'}",
            f"positive share: {report['positive_share_window']:.3f} served, "
            f"{report['positive_share_reference']:.3f} reference",
        ]
    accuracy = outcome["live_accuracy"]
    lines.append(
        "live accuracy: "
        + (f"{accuracy:.3f} over {outcome['labelled']} labels" if accuracy is not None else "n/a")
    )
    lines.append(f"retraining: {outcome['retraining']}")
    lines.append(f"MLflow run: {outcome['mlflow_run_id']}")
    return lines
