"""The champion rule on its own: which version wins, and the reason a run log shows."""

from __future__ import annotations

import pytest

from sentiment_mlops.flows.promotion import decide


@pytest.mark.parametrize(
    ("metric", "champion_version", "champion_score", "promoted", "reason"),
    [
        ("f1", None, None, True, "no champion yet"),
        ("f1", "3", None, False, "already champion"),  # a re-run of the champion's version
        ("f1", "2", None, True, "champion v2 cannot be loaded"),
        ("f1", "2", 0.79, True, "challenger scores higher"),
        ("f1", "2", 0.80, False, "champion scores at least as high"),  # a tie keeps it
        ("f1", "2", 0.81, False, "champion scores at least as high"),
        ("log_loss", "2", 0.81, True, "challenger scores lower"),
        ("log_loss", "2", 0.80, False, "champion scores at least as low"),
        ("log_loss", "2", 0.79, False, "champion scores at least as low"),
    ],
)
def test_rule(
    metric: str,
    champion_version: str | None,
    champion_score: float | None,
    promoted: bool,
    reason: str,
) -> None:
    decision = decide(metric, "3", 0.80, champion_version, champion_score)
    assert (decision.promoted, decision.reason) == (promoted, reason)
    assert decision.metric == metric
    assert (decision.challenger_version, decision.challenger_score) == ("3", 0.80)
    assert (decision.champion_version, decision.champion_score) == (
        champion_version,
        champion_score,
    )


def test_an_unknown_metric_decides_nothing() -> None:
    with pytest.raises(ValueError, match="unknown metric 'neg_log_loss'"):
        decide("neg_log_loss", "3", 0.8, "2", 0.7)
