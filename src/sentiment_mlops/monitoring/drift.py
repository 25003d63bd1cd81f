"""The drift report: served texts against the champion's held-out training texts, by Evidently.

Compared, each with an Evidently `ValueDrift` whose method and threshold come from params.yaml:
- the raw text, by a domain classifier (a model that tries to tell served from training texts;
  its ROC AUC is the drift score: 0.5 when they look alike, 1.0 when always told apart);
- text descriptors: length in characters, the share of words outside the model's vocabulary
  (`oov_share`, words the model cannot weigh at all) and the share of non-letter characters;
- the predicted-class balance (the served labels against the champion's on the reference).

Rows logged with `LOG_TEXTS=false` keep only a hash and a length: when too few rows have a
text, only length and class balance are compared and the text checks are reported as skipped.
Evidently decides which column drifted (its tests); `rules.decide` turns that into a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from sentiment_mlops.core.labels import LABEL_NAMES, POSITIVE
from sentiment_mlops.monitoring.evidently_compat import ensure_importable
from sentiment_mlops.monitoring.rules import MonitoringParams

TEXT_DESCRIPTORS = ("length", "oov_share", "non_letter_share")
Tokenize = Callable[[str], list[str]]


@dataclass(frozen=True)
class ColumnDrift:
    """One Evidently drift test: the method it used, its score and threshold, its outcome."""

    column: str
    method: str
    threshold: float
    score: float
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    """The Evidently snapshot (for its HTML) and what it found, as plain values."""

    snapshot: Any
    window_rows: int
    text_rows: int  # window rows that have their text (the rest were logged as a hash)
    reference_rows: int
    text: ColumnDrift | None  # None: too few texts to compare
    descriptors: tuple[ColumnDrift, ...]
    class_balance: ColumnDrift
    positive_share_window: float
    positive_share_reference: float

    @property
    def drifted_descriptors(self) -> tuple[str, ...]:
        return tuple(d.column for d in self.descriptors if d.drifted)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (no snapshot)."""
        values = asdict(self)
        values.pop("snapshot")
        return values | {"drifted_descriptors": list(self.drifted_descriptors)}

    def save_html(self, path: str) -> None:
        self.snapshot.save_html(path)


def oov_shares(texts: pd.Series, tokenize: Tokenize, vocabulary: Container[str]) -> pd.Series:
    """Share of each text's words the vocabulary lacks (1.0 for a text without words)."""

    def share(text: str) -> float:
        words = tokenize(text)
        if not words:
            return 1.0
        return sum(word not in vocabulary for word in words) / len(words)

    return texts.map(share).astype(float)


def compute_drift(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    tokenize: Tokenize,
    vocabulary: Container[str],
    params: MonitoringParams,
) -> DriftReport:
    """Compare `window` (columns text (may be null), text_length, predicted) with `reference`
    (text, predicted); `tokenize` and `vocabulary` are the model's, for `oov_share`."""
    ensure_importable()
    from evidently import DataDefinition, Dataset, Report
    from evidently.descriptors import NonLetterCharacterPercentage
    from evidently.metrics import ValueDrift

    with_text = window[window["text"].notna()]
    compare_texts = len(with_text) >= params.min_window_rows
    numeric = ["length", "oov_share"] if compare_texts else ["length"]
    definition = DataDefinition(
        text_columns=["text"] if compare_texts else [],
        numerical_columns=numeric,
        categorical_columns=["predicted"],
    )
    descriptors = [NonLetterCharacterPercentage("text", alias="non_letter_share")]

    def dataset(frame: pd.DataFrame) -> Any:
        if compare_texts:
            texts = frame["text"].astype(str)
            columns = {
                "text": texts,
                "length": texts.str.len(),
                "oov_share": oov_shares(texts, tokenize, vocabulary),
                "predicted": frame["predicted"],
            }
            data = pd.DataFrame(columns).reset_index(drop=True)
            return Dataset.from_pandas(data, data_definition=definition, descriptors=descriptors)
        lengths = frame["text_length"] if "text_length" in frame else frame["text"].str.len()
        data = pd.DataFrame({"length": lengths, "predicted": frame["predicted"]})
        return Dataset.from_pandas(data.reset_index(drop=True), data_definition=definition)

    described = TEXT_DESCRIPTORS if compare_texts else ("length",)
    metrics = [
        ValueDrift(
            column=column,
            method=params.descriptor_drift_method,
            threshold=params.descriptor_drift_threshold,
        )
        for column in described
    ]
    metrics.append(ValueDrift(column="predicted"))  # Evidently picks the test for a category
    if compare_texts:
        metrics.insert(
            0,
            ValueDrift(
                column="text",
                method=params.text_drift_method,
                threshold=params.text_drift_threshold,
            ),
        )
    current = with_text if compare_texts else window
    snapshot = Report(metrics, include_tests=True).run(dataset(current), dataset(reference))
    found = _column_drifts(snapshot.dict())
    return DriftReport(
        snapshot=snapshot,
        window_rows=len(window),
        text_rows=len(with_text),
        reference_rows=len(reference),
        text=found.get("text"),
        descriptors=tuple(found[column] for column in described),
        class_balance=found["predicted"],
        positive_share_window=_positive_share(current["predicted"]),
        positive_share_reference=_positive_share(reference["predicted"]),
    )


def _positive_share(labels: pd.Series) -> float:
    return float((labels == LABEL_NAMES[POSITIVE]).mean()) if len(labels) else 0.0


def _column_drifts(snapshot: dict[str, Any]) -> dict[str, ColumnDrift]:
    """Each ValueDrift's resolved method, threshold and score, and its test's outcome."""
    failed = {
        test["metric_config"]["params"]["column"]: test["status"] == "FAIL"
        for test in snapshot["tests"]
    }
    drifts = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        column = config["column"]
        drifts[column] = ColumnDrift(
            column=column,
            method=str(config["method"]),
            threshold=float(config["threshold"]),
            score=float(metric["value"]),
            drifted=failed[column],
        )
    return drifts
