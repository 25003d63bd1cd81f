"""Two `sentiment train --champion` runs at once against the stack: the better model ends as
champion, and each decision was made against the champion of that moment (no lost update)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.stack.helpers import RunningStack, output, write_params

pytestmark = pytest.mark.stack

MODEL = "race-model"


def _version(text: str) -> str:
    found = re.search(r"registered version (\d+)", text)
    assert found, text
    return found.group(1)


def test_concurrent_champion_runs_end_with_the_better_model(
    stack: RunningStack, tmp_path: Path
) -> None:
    # F1 on the demo split: 5 features ~0.46 < 50 features ~0.63 < the full model ~0.74.
    baseline = stack.sentiment(
        "train",
        "--champion",
        "--model-name",
        MODEL,
        "--params",
        str(write_params(tmp_path, "tiny", max_features=5)),
    )
    assert baseline.returncode == 0, output(baseline)
    assert "promoted to champion" in baseline.stdout

    weak = stack.start_training(
        "--champion",
        "--model-name",
        MODEL,
        "--params",
        str(write_params(tmp_path, "weak", max_features=50)),
    )
    best = stack.start_training("--champion", "--model-name", MODEL)
    weak_out, _ = weak.communicate(timeout=300)
    best_out, _ = best.communicate(timeout=300)
    assert weak.returncode == 0, weak_out
    assert best.returncode == 0, best_out

    weak_version, best_version = _version(weak_out), _version(best_out)
    model = stack.mlflow().get_registered_model(MODEL)
    aliases = {alias: str(version) for alias, version in model.aliases.items()}
    assert aliases["champion"] == best_version, (aliases, weak_out, best_out)
    assert "promoted to champion" in best_out
    if "promoted to champion" in weak_out:
        # The weak model went first, over the baseline; the best then beat it.
        assert f"champion v{weak_version} " in best_out, best_out
        assert aliases["previous"] == weak_version
    else:
        # The best model went first; the weak one was then compared with it, not the baseline.
        assert f"champion v{best_version} " in weak_out, weak_out
        assert aliases["previous"] == "1"
