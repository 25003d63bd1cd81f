"""The scores of a model and which way each one is better: the one definition of a metric.

Settings validate `CHAMPION_METRIC` against these names, and promotion compares in the
direction written here, so a metric that is not scored, or a lower-is-better metric compared as
if higher were better, cannot reach a promotion. Plain dataclasses: importing this costs nothing
(the settings import it; scikit-learn stays in `evaluation`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

_LOWER_IS_BETTER = {"higher_is_better": False}


@dataclass(frozen=True)
class Metrics:
    """Scores of one model on one set of rows; higher is better unless a field says otherwise."""

    accuracy: float
    f1: float
    precision: float
    recall: float
    roc_auc: float
    log_loss: float = field(metadata=_LOWER_IS_BETTER)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def score(self, metric: str) -> float:
        """The value of a named metric (one of `METRIC_NAMES`)."""
        check_metric(metric)
        return float(getattr(self, metric))


# Every metric a model is scored on, in the order reports show them.
METRIC_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Metrics))
_HIGHER_IS_BETTER = {f.name: f.metadata.get("higher_is_better", True) for f in fields(Metrics)}


def check_metric(metric: str) -> str:
    """`metric` if it is scored, else a ValueError that lists the metrics that are."""
    if metric not in _HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}: choose one of {', '.join(METRIC_NAMES)}")
    return metric


def higher_is_better(metric: str) -> bool:
    return _HIGHER_IS_BETTER[check_metric(metric)]


def is_better(metric: str, challenger: float, champion: float) -> bool:
    """True when `challenger` is strictly better than `champion` on `metric` (ties are not)."""
    if higher_is_better(metric):
        return challenger > champion
    return challenger < champion


def meets_floor(metric: str, score: float, floor: float) -> bool:
    """True when `score` is at least as good as `floor` on `metric` (a floor is inclusive)."""
    return not is_better(metric, floor, score)
