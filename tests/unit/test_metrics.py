"""Which metrics exist and which way each is better: derived from `Metrics`, checked once."""

from __future__ import annotations

import pytest

from sentiment_mlops.core.metrics import METRIC_NAMES, Metrics, higher_is_better, is_better
from sentiment_mlops.settings import SettingsError, get_settings


def test_every_metric_a_model_is_scored_on_can_decide_promotion() -> None:
    scores = Metrics(accuracy=0.8, f1=0.7, precision=0.6, recall=0.5, roc_auc=0.9, log_loss=0.4)
    assert set(METRIC_NAMES) == set(scores.as_dict())
    for name in METRIC_NAMES:
        assert scores.score(name) == scores.as_dict()[name]


@pytest.mark.parametrize(
    ("metric", "better", "worse"),
    [("f1", 0.9, 0.8), ("roc_auc", 0.95, 0.9), ("log_loss", 0.3, 0.5)],
)
def test_direction(metric: str, better: float, worse: float) -> None:
    assert is_better(metric, better, worse)
    assert not is_better(metric, worse, better)
    assert not is_better(metric, better, better)  # a tie keeps the champion


def test_only_log_loss_is_lower_is_better() -> None:
    assert [name for name in METRIC_NAMES if not higher_is_better(name)] == ["log_loss"]


def test_an_unscored_metric_is_refused_naming_the_allowed_ones() -> None:
    scores = Metrics(accuracy=0.8, f1=0.7, precision=0.6, recall=0.5, roc_auc=0.9, log_loss=0.4)
    with pytest.raises(ValueError, match="unknown metric 'neg_log_loss': choose one of accuracy"):
        scores.score("neg_log_loss")


@pytest.mark.parametrize("value", ["neg_log_loss", "F1", "auc"])
def test_settings_refuse_an_unscored_champion_metric(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAMPION_METRIC", value)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as error:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert str(error.value) == (
        f"CHAMPION_METRIC: unknown metric {value!r}: choose one of {', '.join(METRIC_NAMES)}"
    )


def test_settings_accept_log_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAMPION_METRIC", "log_loss")
    get_settings.cache_clear()
    try:
        assert get_settings().champion_metric == "log_loss"
    finally:
        get_settings.cache_clear()
