"""What `sentiment tune` searches: each trial's choices turned into validated `TrainingParams`.

Only the feature and model sections are searched; `data:` (the test split) and `max_iter` stay
as the params file has them. Settings of a vectorizer the trial's feature set does not use are
not suggested (Optuna's conditional search space), and stay as the file has them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentiment_mlops.core.params import FEATURE_SETS, TrainingParams

if TYPE_CHECKING:
    import optuna

# Sections a tuning run may change, and so the ones `--write-params` writes.
TUNED_SECTIONS = ("features", "vectorizer", "char_vectorizer", "model")

_WORD_MAX_FEATURES = [20_000, 50_000, 100_000, 200_000, None]
_CHAR_MAX_FEATURES = [100_000, 200_000, 400_000, None]


def suggest_params(
    trial: optuna.Trial | optuna.trial.FixedTrial, base: TrainingParams
) -> TrainingParams:
    """`base` with the feature and model settings this trial chooses."""
    feature_set = trial.suggest_categorical("features.set", FEATURE_SETS)
    nb_alpha = None
    if trial.suggest_categorical("features.nb_weighting", [True, False]):
        nb_alpha = _rounded(trial.suggest_float("features.nb_alpha", 0.1, 2.0, log=True), 2)
    changes: dict[str, dict[str, Any]] = {"features": {"set": feature_set, "nb_alpha": nb_alpha}}
    if feature_set in ("word", "word+char_wb"):
        changes["vectorizer"] = _ngram_settings(trial, "vectorizer", 1, 3, _WORD_MAX_FEATURES)
    if feature_set in ("char_wb", "word+char_wb"):
        changes["char_vectorizer"] = _ngram_settings(
            trial, "char_vectorizer", 4, 6, _CHAR_MAX_FEATURES, low=2
        )
    changes["model"] = {"C": _rounded(trial.suggest_float("model.C", 0.25, 64.0, log=True), 3)}
    return base.updated(changes)


def _ngram_settings(
    trial: optuna.Trial | optuna.trial.FixedTrial,
    section: str,
    shortest_top: int,
    longest_top: int,
    max_features: list[int | None],
    *,
    low: int = 1,
) -> dict[str, Any]:
    return {
        "ngram_range": (low, trial.suggest_int(f"{section}.ngram_max", shortest_top, longest_top)),
        "min_df": trial.suggest_int(f"{section}.min_df", 1, 3),
        "max_features": trial.suggest_categorical(f"{section}.max_features", max_features),
        "sublinear_tf": trial.suggest_categorical(f"{section}.sublinear_tf", [True, False]),
    }


def _rounded(value: float, digits: int) -> float:
    """`value` to `digits` significant digits: params.yaml gets 4.27, not 4.2693318745."""
    return float(f"{value:.{digits}g}")
