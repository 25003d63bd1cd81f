"""The tuning search space: valid params for every trial, the same trials from the same seed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentiment_mlops.core.params import TrainingParams, load_params
from sentiment_mlops.flows.search_space import suggest_params
from tests.support.paths import PARAMS_FILE

if TYPE_CHECKING:  # imported where the trials run, not at collection (~0.7 s of imports)
    import optuna


def _suggested(seed: int, trials: int = 25) -> list[TrainingParams]:
    import optuna

    base = load_params(PARAMS_FILE)
    found: list[TrainingParams] = []

    def objective(trial: optuna.Trial) -> float:
        found.append(suggest_params(trial, base))
        return float(found[-1].model.C)  # any deterministic score will do

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return found


def test_the_same_seed_gives_the_same_trials() -> None:
    assert _suggested(seed=7) == _suggested(seed=7)
    assert _suggested(seed=7) != _suggested(seed=8)


def test_every_feature_set_is_searched_and_the_split_never() -> None:
    trials = _suggested(seed=1, trials=40)
    base = load_params(PARAMS_FILE)
    assert {t.features.set for t in trials} == {"word", "char_wb", "word+char_wb"}
    assert {t.features.nb_alpha is None for t in trials} == {True, False}
    assert {t.data for t in trials} == {base.data}
    assert {t.model.max_iter for t in trials} == {base.model.max_iter}
