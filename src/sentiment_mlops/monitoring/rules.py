"""The drift check's parameters (the `monitoring:` section of params.yaml) and its one rule.

`decide` is the only place that turns a drift report and live accuracy into a verdict and a
retraining decision, so the CLI, the flow, the MLflow run and the API's gauges all report the
same answer for the same reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sentiment_mlops.core.params import ParamsError, read_params_file, validation_problems
from sentiment_mlops.errors import UserError

_WINDOW = re.compile(r"(\d+)\s*(m|h|d)")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}

Verdict = Literal["drift", "no_drift", "nothing_to_compare"]


class WindowError(UserError, ValueError):
    """A window that is not a positive number of minutes, hours or days."""


def parse_window(text: str) -> timedelta:
    """`30m`, `24h` or `7d` as a duration; anything else is a WindowError naming the value."""
    match = _WINDOW.fullmatch(str(text).strip().lower())
    if not match or int(match.group(1)) == 0:
        raise WindowError(f"window must be a positive number of m, h or d (e.g. 24h), got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class MonitoringParams(BaseModel):
    """What a drift check compares and what counts as drift; params.yaml is their only source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: str
    min_window_rows: int = Field(ge=2)
    max_window_rows: int = Field(ge=2)
    reference_rows: int = Field(ge=2)
    text_drift_method: str
    text_drift_threshold: float = Field(gt=0)
    descriptor_drift_method: str
    descriptor_drift_threshold: float = Field(gt=0)
    min_drifted_descriptors: int = Field(ge=1)
    min_live_accuracy: float = Field(ge=0, le=1)
    min_labelled: int = Field(ge=1)

    @field_validator("window")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_window(value)
        return value


class _ParamsFile(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the training sections are not ours

    monitoring: MonitoringParams


def load_monitoring_params(path: Path) -> MonitoringParams:
    """The `monitoring:` section of a params file; errors name the file and the bad key."""
    raw = read_params_file(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("monitoring"), dict):
        raise ParamsError(f"{path}: no `monitoring:` section (see the project's params.yaml)")
    try:  # validated in place, so that each error names its key as `monitoring.<key>`
        return _ParamsFile.model_validate(raw).monitoring
    except ValidationError as error:
        raise ParamsError(f"{path}: {validation_problems(error)}") from None


@dataclass(frozen=True)
class Observed:
    """What a check saw: the inputs of the rule, taken from the report and the feedback."""

    window_rows: int
    text_drift: bool | None  # None: no texts to compare (LOG_TEXTS=false, or too few)
    drifted_descriptors: tuple[str, ...]
    live_accuracy: float | None
    labelled: int


@dataclass(frozen=True)
class Decision:
    """The verdict, whether retraining is due, and the reasons in words (logged everywhere)."""

    verdict: Verdict
    retrain: bool
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def decide(observed: Observed, params: MonitoringParams) -> Decision:
    """Drift: the raw-text test flags it, or at least `min_drifted_descriptors` descriptors
    drift. Retraining is due on drift, or when live accuracy (over at least `min_labelled`
    labels) is below `min_live_accuracy`. Too few served rows: nothing to compare."""
    reasons: list[str] = []
    verdict: Verdict
    if observed.window_rows < params.min_window_rows:
        verdict = "nothing_to_compare"
        reasons.append(
            f"{observed.window_rows} served predictions in the window, "
            f"fewer than {params.min_window_rows}: nothing to compare"
        )
    else:
        drifted = observed.drifted_descriptors
        many = len(drifted) >= params.min_drifted_descriptors
        if observed.text_drift:
            reasons.append("the raw texts drifted (domain classifier)")
        if many:
            reasons.append(
                f"{len(drifted)} descriptors drifted ({', '.join(drifted)}), "
                f"at least {params.min_drifted_descriptors}"
            )
        verdict = "drift" if observed.text_drift or many else "no_drift"
        if verdict == "no_drift":
            reasons.append(
                f"no drift ({len(drifted)} descriptors drifted, "
                f"below {params.min_drifted_descriptors})"
            )
    low_accuracy = (
        observed.live_accuracy is not None
        and observed.labelled >= params.min_labelled
        and observed.live_accuracy < params.min_live_accuracy
    )
    if low_accuracy:
        reasons.append(
            f"live accuracy {observed.live_accuracy:.3f} over {observed.labelled} labels "
            f"is below {params.min_live_accuracy}"
        )
    return Decision(verdict, verdict == "drift" or low_accuracy, tuple(reasons))
