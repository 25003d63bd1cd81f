"""What the CLI prints: short rich tables a person can read at a glance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from sentiment_mlops.core.metrics import METRIC_NAMES

if TYPE_CHECKING:
    from sentiment_mlops.flows.types import ChallengerDecision, TrainingResult
    from sentiment_mlops.monitoring.rollout_report import Report
    from sentiment_mlops.registry import ModelRef


def _console() -> Console:
    return Console(soft_wrap=True)


def _metrics_table(metrics: dict[str, float], title: str) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    for name in METRIC_NAMES:
        if name in metrics:
            table.add_row(name, f"{metrics[name]:.4f}")
    return table


def print_training_result(result: TrainingResult) -> None:
    console = _console()
    console.print(
        f"[bold]run[/bold] {result.run_id}  ({result.rows} reviews from {result.data_path})"
    )
    console.print(_metrics_table(result.metrics, "held-out metrics"))
    if result.version is None:
        console.print("not registered (--no-register)")
        return
    console.print(f"[bold]registered version[/bold] {result.version}")
    if result.challenger is not None:
        _print_challenger(console, result.challenger)
        return
    decision = result.promotion
    if decision is None:
        console.print("champion: not considered (use --champion)")
        return
    champion = (
        f"v{decision.champion_version} {decision.metric}={decision.champion_score:.4f}"
        if decision.champion_score is not None
        else f"v{decision.champion_version}"
        if decision.champion_version
        else "none"
    )
    verdict = (
        "[green]promoted to champion[/green]"
        if decision.promoted
        else "[yellow]kept champion[/yellow]"
    )
    console.print(
        f"{verdict}: {decision.reason} (challenger v{decision.challenger_version} "
        f"{decision.metric}={decision.challenger_score:.4f}; champion {champion})"
    )


def _print_challenger(console: Console, decision: ChallengerDecision) -> None:
    scores = f"{decision.metric}={decision.score:.4f}, floor {decision.floor:.4f}"
    if not decision.nominated:
        console.print(f"[yellow]not a challenger[/yellow]: below the quality floor ({scores})")
        return
    replaced = f"; replaces v{decision.replaced_version}" if decision.replaced_version else ""
    console.print(f"[green]challenger[/green]: version {decision.version} ({scores}{replaced})")


def print_model_info(ref: ModelRef, alias: str, metrics: dict[str, float]) -> None:
    console = _console()
    console.print(f"[bold]{ref.name}@{alias}[/bold] -> version {ref.version}")
    console.print(f"run id:  {ref.run_id}")
    console.print(f"aliases: {', '.join(ref.aliases) or '-'}")
    if ref.tags.get("git_commit"):
        console.print(f"commit:  {ref.tags['git_commit']}")
    console.print(_metrics_table(metrics, "metrics"))


def print_versions(name: str, versions: Sequence[ModelRef], metric: str) -> None:
    table = Table(title=f"{name} versions", title_justify="left")
    table.add_column("version", justify="right")
    table.add_column("aliases")
    table.add_column(metric, justify="right")
    table.add_column("run id")
    for ref in versions:
        table.add_row(
            ref.version,
            ", ".join(ref.aliases) or "-",
            ref.tags.get(f"metric.{metric}", "-"),
            ref.run_id or "-",
        )
    _console().print(table)


def print_predictions(texts: Sequence[str], model: Any, ref: ModelRef) -> None:
    from sentiment_mlops.core.labels import LABEL_NAMES, labels_from_proba

    predicted, confidence = labels_from_proba(model.predict_proba(list(texts)), model.classes_)
    table = Table(title=f"{ref.name} version {ref.version}", title_justify="left")
    table.add_column("sentiment")
    table.add_column("confidence", justify="right")
    table.add_column("text")
    for text, label, probability in zip(texts, predicted, confidence, strict=True):
        table.add_row(LABEL_NAMES[int(label)], f"{probability:.3f}", text[:80])
    _console().print(table)


def _value(number: float | None, form: str) -> str:
    return "-" if number is None else format(number, form)


def print_rollout_report(name: str, report: Report) -> None:
    table = Table(title=f"{name}: champion against challenger", title_justify="left")
    for column in ("variant", "versions", "requests", "labelled", "live accuracy", "p50 ms"):
        table.add_column(column)
    table.add_column("p99 ms")
    for stats in report.variants:
        table.add_row(
            stats.variant,
            ", ".join(stats.versions) or "-",
            str(stats.requests),
            str(stats.labelled),
            _value(stats.accuracy, ".3f"),
            _value(stats.p50_ms, ".2f"),
            _value(stats.p99_ms, ".2f"),
        )
    console = _console()
    console.print(table)
    agreement = _value(report.agreement, ".1%")
    console.print(f"shadow agreement: {agreement} over {report.compared} texts")
    console.print(f"recommendation: [bold]{report.recommendation}[/bold] ({report.reason})")
