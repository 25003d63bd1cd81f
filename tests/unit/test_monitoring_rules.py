"""The drift check's one rule (`monitoring.rules.decide`), its window and its params section."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from sentiment_mlops.core.params import ParamsError
from sentiment_mlops.errors import UserError
from sentiment_mlops.flows.inputs import DEFAULT_PARAMS
from sentiment_mlops.monitoring.rules import (
    Observed,
    decide,
    load_monitoring_params,
    parse_window,
)
from tests.support.paths import PARAMS_FILE

PARAMS = load_monitoring_params(PARAMS_FILE).model_copy(
    update={
        "min_window_rows": 20,
        "min_drifted_descriptors": 2,
        "min_live_accuracy": 0.8,
        "min_labelled": 30,
    }
)


def _seen(**values) -> Observed:
    defaults = {
        "window_rows": 100,
        "text_drift": False,
        "drifted_descriptors": (),
        "live_accuracy": None,
        "labelled": 0,
    }
    return Observed(**(defaults | values))


@pytest.mark.parametrize(
    ("observed", "verdict", "retrain"),
    [
        (_seen(), "no_drift", False),
        (_seen(text_drift=True), "drift", True),
        (_seen(drifted_descriptors=("length",)), "no_drift", False),
        (_seen(drifted_descriptors=("length", "oov_share")), "drift", True),
        # Texts not logged (LOG_TEXTS=false): the descriptors alone decide.
        (_seen(text_drift=None, drifted_descriptors=("length", "oov_share")), "drift", True),
        (_seen(text_drift=None), "no_drift", False),
        # Live accuracy below the threshold retrains without drift, once enough labels count.
        (_seen(live_accuracy=0.7, labelled=30), "no_drift", True),
        (_seen(live_accuracy=0.7, labelled=29), "no_drift", False),
        (_seen(live_accuracy=0.8, labelled=500), "no_drift", False),
        # Too few served predictions: nothing to compare, whatever the tests said.
        (_seen(window_rows=19, text_drift=True), "nothing_to_compare", False),
        (_seen(window_rows=0, live_accuracy=0.5, labelled=100), "nothing_to_compare", True),
    ],
)
def test_decide(observed: Observed, verdict: str, retrain: bool) -> None:
    decision = decide(observed, PARAMS)
    assert (decision.verdict, decision.retrain) == (verdict, retrain)
    assert decision.reason  # every decision says why


def test_reasons_name_what_drifted_and_the_accuracy() -> None:
    decision = decide(
        _seen(
            text_drift=True,
            drifted_descriptors=("length", "oov_share"),
            live_accuracy=0.5,
            labelled=40,
        ),
        PARAMS,
    )
    assert decision.reasons == (
        "the raw texts drifted (domain classifier)",
        "2 descriptors drifted (length, oov_share), at least 2",
        "live accuracy 0.500 over 40 labels is below 0.8",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24)), (" 7D ", timedelta(days=7))],
)
def test_parse_window(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "0h", "-1h", "1.5h", "24 hours", "1w"])
def test_bad_window_is_a_user_error(text: str) -> None:
    with pytest.raises(UserError, match="window must be a positive number of m, h or d"):
        parse_window(text)


def test_packaged_params_have_the_same_monitoring_section() -> None:
    assert load_monitoring_params(DEFAULT_PARAMS) == load_monitoring_params(PARAMS_FILE)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"min_live_accuracy": 1.5}, "monitoring.min_live_accuracy: Input should be less"),
        ({"window": "soon"}, "monitoring.window: window must be"),
        ({"unknown": 1}, "monitoring.unknown: Extra inputs are not permitted"),
    ],
)
def test_bad_monitoring_params_name_the_key(tmp_path: Path, change: dict, message: str) -> None:
    params = yaml.safe_load(PARAMS_FILE.read_text())
    params["monitoring"] |= change
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match=message):
        load_monitoring_params(path)


def test_missing_monitoring_section_says_so(tmp_path: Path) -> None:
    params = yaml.safe_load(PARAMS_FILE.read_text())
    del params["monitoring"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match="no `monitoring:` section"):
        load_monitoring_params(path)
