"""Cross-validated search for the default TF-IDF + logistic regression parameters.

Benchmark, not a test. It makes the project's own train/test split, cross-validates a grid on
the training split only, then scores the chosen candidate, the current `params.yaml` and the
seed's baseline on the held-out split in the same run. Every candidate is built by the
project's `build_pipeline`, so what is tuned is exactly what `sentiment train` fits.

    uv run python bench/tune.py [--data PATH] [--params FILE] [--folds 5] [--top 20]
                                [--no-char] [--quick] [--write]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline

from sentiment_mlops.core.data import DataError, load_reviews
from sentiment_mlops.core.evaluation import evaluate
from sentiment_mlops.core.model import build_pipeline
from sentiment_mlops.core.params import TrainingParams, load_params
from sentiment_mlops.core.split import Split, split_reviews
from sentiment_mlops.core.text import clean_text

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "imdb_reviews.csv"
PARAMS_FILE = PROJECT_ROOT / "params.yaml"

# Vectorizer settings change the features (one fit per setting and fold); model settings are
# scored on the same fitted features, so the grid costs one TF-IDF fit per vectorizer setting.
VECTORIZER_GRID: dict[str, list[Any]] = {
    "sublinear_tf": [True, False],
    "max_features": [20_000, 50_000, 100_000, None],
    "ngram_range": [(1, 1), (1, 2), (1, 3)],
    "min_df": [1, 2],
}
MODEL_GRID: dict[str, list[Any]] = {
    "C": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
    "class_weight": [None, "balanced"],
}
# Scores closer than this to the best are a tie: 0.002 accuracy is one review per fold.
TIE_ACCURACY, TIE_ROC_AUC = 0.002, 0.001
# The character n-gram experiment: char_wb TF-IDF next to the chosen word TF-IDF.
CHAR_NGRAMS = [(2, 4), (2, 5)]
SEED_BASELINE = {
    "vectorizer": {"max_features": 5000, "ngram_range": (1, 2), "min_df": 1, "sublinear_tf": False},
    "model": {"C": 1.0, "class_weight": None},
}


@dataclass
class Candidate:
    """One grid point and its per-fold scores."""

    vectorizer: dict[str, Any]
    model: dict[str, Any]
    accuracy: list[float] = field(default_factory=list)
    roc_auc: list[float] = field(default_factory=list)
    log_loss: list[float] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    # Accuracy and ROC AUC averaged with the neighbouring C values (see `smooth_over_c`).
    smoothed: tuple[float, float] = (0.0, 0.0)

    def mean(self, metric: str) -> float:
        return float(np.mean(getattr(self, metric)))

    @property
    def standard_error(self) -> float:
        return float(np.std(self.accuracy, ddof=1) / np.sqrt(len(self.accuracy)))


def make_params(
    base: TrainingParams, vectorizer: dict[str, Any], model: dict[str, Any]
) -> TrainingParams:
    """`base` with some vectorizer/model values replaced, validated like `params.yaml`."""
    values = base.model_dump()
    values["vectorizer"] |= {k: v for k, v in vectorizer.items() if k in VECTORIZER_GRID}
    values["model"] |= model
    return TrainingParams.model_validate(values)


def make_pipeline(
    base: TrainingParams, vectorizer: dict[str, Any], model: dict[str, Any]
) -> Pipeline:
    """The project's pipeline; with `char_ngram`, its word TF-IDF joined by a char_wb TF-IDF
    (an experiment: the core has no such option)."""
    pipeline = build_pipeline(make_params(base, vectorizer, model))
    char_ngram = vectorizer.get("char_ngram")
    if char_ngram:
        char = TfidfVectorizer(
            analyzer="char_wb",
            preprocessor=clean_text,
            ngram_range=char_ngram,
            min_df=2,
            sublinear_tf=True,
            dtype=np.float32,
        )
        word = pipeline.named_steps["tfidf"]
        pipeline.set_params(tfidf=FeatureUnion([("word", word), ("char", char)]))
    return pipeline


def grid(spec: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(spec, values, strict=True)) for values in product(*spec.values())]


def cross_validate(
    split: Split,
    base: TrainingParams,
    folds: int,
    vectorizers: list[dict[str, Any]],
    models: list[dict[str, Any]],
) -> list[Candidate]:
    """Score every (vectorizer, model) pair on the same stratified folds of the training split.

    The feature steps are fitted once per vectorizer setting and fold and shared by all model
    settings; a candidate's fit time is its feature fit plus its classifier fit.
    """
    texts, labels = split.train_texts, split.train_labels.to_numpy()
    kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=base.data.random_state)
    fold_rows = list(kfold.split(texts, labels))
    found = {
        (i, j): Candidate(v, m) for i, v in enumerate(vectorizers) for j, m in enumerate(models)
    }
    started = time.perf_counter()
    for i, vectorizer in enumerate(vectorizers):
        for train_rows, val_rows in fold_rows:
            features = make_pipeline(base, vectorizer, {})[:-1]
            tick = time.perf_counter()
            train_x = features.fit_transform(texts.iloc[train_rows])
            feature_seconds = time.perf_counter() - tick
            val_x = features.transform(texts.iloc[val_rows])
            for j, model in enumerate(models):
                clf = make_pipeline(base, vectorizer, model)[-1]
                tick = time.perf_counter()
                clf.fit(train_x, labels[train_rows])
                found[i, j].fit_seconds.append(feature_seconds + time.perf_counter() - tick)
                positive = clf.predict_proba(val_x)[:, list(clf.classes_).index(1)]
                truth = labels[val_rows]
                found[i, j].accuracy.append(accuracy_score(truth, positive >= 0.5))
                found[i, j].roc_auc.append(roc_auc_score(truth, positive))
                found[i, j].log_loss.append(log_loss(truth, positive, labels=[0, 1]))
        elapsed = time.perf_counter() - started
        print(f"  [{i + 1}/{len(vectorizers)}] {vectorizer}  {elapsed:.0f} s", file=sys.stderr)
    candidates = list(found.values())
    smooth_over_c(candidates)
    return candidates


def smooth_over_c(candidates: list[Candidate]) -> None:
    """Average each candidate's CV accuracy and ROC AUC with its C neighbours (one grid step
    down and up, same everything else): high only where the score does not hinge on one C."""
    index = {_key(c.vectorizer, c.model): c for c in candidates}
    steps = sorted({c.model["C"] for c in candidates})
    for c in candidates:
        at = steps.index(c.model["C"])
        values = steps[max(at - 1, 0) : at + 2]
        near = [index.get(_key(c.vectorizer, c.model | {"C": v})) for v in values]
        near = [n for n in near if n is not None]
        c.smoothed = (
            float(np.mean([n.mean("accuracy") for n in near])),
            float(np.mean([n.mean("roc_auc") for n in near])),
        )


def _key(vectorizer: dict[str, Any], model: dict[str, Any]) -> tuple:
    return tuple(sorted(vectorizer.items())) + tuple(sorted(model.items()))


def choose(candidates: list[Candidate]) -> Candidate:
    """The simplest candidate that ties with the best on both C-smoothed CV scores.

    The top of the grid is a plateau: its best mean is partly the luck of the folds. So take
    every candidate within a tie margin of the best C-smoothed accuracy *and* ROC AUC (the
    targets are on both), then prefer the strongest regularisation (smallest C, which also
    keeps the choice off the grid's upper edge), the smaller vocabulary, shorter n-grams, no
    class reweighting, and finally the higher raw accuracy.
    """
    best_accuracy = max(c.smoothed[0] for c in candidates)
    best_auc = max(c.smoothed[1] for c in candidates)
    tied = [
        c
        for c in candidates
        if c.smoothed[0] >= best_accuracy - TIE_ACCURACY and c.smoothed[1] >= best_auc - TIE_ROC_AUC
    ]
    return min(
        tied,
        key=lambda c: (
            c.model["C"],
            c.vectorizer["max_features"] or math.inf,
            c.vectorizer["ngram_range"][1],
            -c.vectorizer["min_df"],
            c.model["class_weight"] is not None,
            -c.mean("accuracy"),
        ),
    )


def describe(vectorizer: dict[str, Any], model: dict[str, Any]) -> str:
    text = (
        f"sublinear={str(vectorizer['sublinear_tf'])[0]} "
        f"max_features={vectorizer['max_features']} "
        f"ngram={'-'.join(map(str, vectorizer['ngram_range']))} min_df={vectorizer['min_df']} "
        f"C={model['C']:g} class_weight={model['class_weight']}"
    )
    if vectorizer.get("char_ngram"):
        text += f" +char_wb {'-'.join(map(str, vectorizer['char_ngram']))}"
    return text


def print_ranking(candidates: list[Candidate], top: int, chosen: Candidate) -> None:
    ranked = sorted(candidates, key=lambda c: c.mean("accuracy"), reverse=True)
    print(f"\n{len(candidates)} candidates ranked by mean CV accuracy (± standard error).")
    print("C±1: accuracy / ROC AUC averaged with the neighbouring C values of the grid.")
    print(f"* = chosen: the simplest whose C±1 scores tie with the best (within {TIE_ACCURACY}")
    print(f"    accuracy and {TIE_ROC_AUC} ROC AUC); fit s = one fold's fit, features + classifier")
    header = f"{'#':>4} {'cv accuracy':>15}  {'roc_auc':>7} {'logloss':>7}  {'C±1 acc/auc':>13}"
    print(f"{header}  fit s  parameters")
    for rank, c in enumerate(ranked, start=1):
        if rank > top and c is not chosen:
            continue
        print(
            f"{rank:>3}{'*' if c is chosen else ' '} {c.mean('accuracy'):.4f} ± "
            f"{c.standard_error:.4f}  {c.mean('roc_auc'):7.4f} {c.mean('log_loss'):7.4f}  "
            f"{c.smoothed[0]:.4f}/{c.smoothed[1]:.4f}  {c.mean('fit_seconds'):5.2f}  "
            f"{describe(c.vectorizer, c.model)}"
        )


def print_per_value(candidates: list[Candidate]) -> None:
    """The best CV scores reachable with each value of each setting: what matters, what not."""
    print("\nbest mean CV accuracy / ROC AUC per value (other settings at their best):")
    for section, spec in (("vectorizer", VECTORIZER_GRID), ("model", MODEL_GRID)):
        for name, values in spec.items():
            cells = []
            for value in values:
                group = [c for c in candidates if getattr(c, section)[name] == value]
                best_accuracy = max(c.mean("accuracy") for c in group)
                cells.append(
                    f"{value}: {best_accuracy:.4f}/{max(c.mean('roc_auc') for c in group):.4f}"
                )
            print(f"  {name:<13} " + "   ".join(cells))


def score_held_out(split: Split, rows: list[tuple[str, Candidate]], base: TrainingParams) -> None:
    """Fit each row's pipeline on the whole training split and score it on the test split."""
    print(
        f"\nheld-out split: trained on {len(split.train_texts)}, scored on {len(split.test_texts)}"
    )
    header = f"{'model':<22} {'accuracy':>8} {'f1':>6} {'roc_auc':>7} {'logloss':>7} {'fit s':>5}"
    print(f"{header}  {'cv acc':>6}  parameters")
    for label, c in rows:
        pipeline = make_pipeline(base, c.vectorizer, c.model)
        tick = time.perf_counter()
        pipeline.fit(split.train_texts, split.train_labels)
        seconds = time.perf_counter() - tick
        m = evaluate(pipeline, split.test_texts, split.test_labels).metrics
        print(
            f"{label:<22} {m.accuracy:8.4f} {m.f1:6.4f} {m.roc_auc:7.4f} {m.log_loss:7.4f} "
            f"{seconds:5.2f}  {c.mean('accuracy'):6.4f}  {describe(c.vectorizer, c.model)}"
        )


def write_params(path: Path, chosen: Candidate) -> None:
    """Put the chosen values into the params file in place, keeping its layout, comments and
    other sections; then check that the file still loads."""
    values = {
        "vectorizer": {k: v for k, v in chosen.vectorizer.items() if k in VECTORIZER_GRID},
        "model": chosen.model,
    }
    section, lines = None, []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line[:1].isalpha():
            section = line.split(":")[0]
        key = line.strip().split(":")[0]
        if line.startswith("  ") and key in values.get(section, {}):
            line = f"  {key}: {_yaml_value(values[section][key])}\n"
        lines.append(line)
    path.write_text("".join(lines), encoding="utf-8")
    load_params(path)
    print(f"\nwrote the chosen values to {path}")
    if path.resolve() == PARAMS_FILE:  # the package ships a copy (a test keeps them equal)
        from sentiment_mlops.flows.inputs import DEFAULT_PARAMS

        DEFAULT_PARAMS.write_bytes(path.read_bytes())
        print(f"and to its packaged copy {DEFAULT_PARAMS}")


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def run_char_experiment(
    split: Split, base: TrainingParams, folds: int, word: Candidate
) -> Candidate:
    """The chosen word TF-IDF joined by char_wb TF-IDF, C re-tuned on the same folds."""
    print("\nword + char_wb TF-IDF (FeatureUnion) on the chosen word settings, same folds:")
    vectorizers = [word.vectorizer | {"char_ngram": ngram} for ngram in CHAR_NGRAMS]
    models = [{"C": c, "class_weight": word.model["class_weight"]} for c in MODEL_GRID["C"]]
    candidates = cross_validate(split, base, folds, vectorizers, models)
    best = choose(candidates)
    print_ranking(candidates, len(candidates), best)
    return best


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CSV/Parquet of reviews")
    parser.add_argument("--params", type=Path, default=PARAMS_FILE, help="params file to tune")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    parser.add_argument("--top", type=int, default=20, help="rows of the ranked table")
    parser.add_argument("--no-char", action="store_true", help="skip the char n-gram experiment")
    parser.add_argument("--quick", action="store_true", help="a tiny grid, to try the script")
    parser.add_argument("--write", action="store_true", help="freeze the choice into --params")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not args.data.exists():
        sys.exit(f"error: {args.data}: data file not found (pass --data PATH)")
    if args.quick:
        VECTORIZER_GRID.update(max_features=[50_000], ngram_range=[(1, 2)], min_df=[2])
        MODEL_GRID.update(C=[1.0, 4.0, 16.0])
    try:
        reviews = load_reviews(args.data)
        base = load_params(args.params)
    except (DataError, ValueError) as error:
        sys.exit(f"error: {error}")
    split = split_reviews(reviews.texts, reviews.labels, base.data)
    print(
        f"{len(reviews.frame)} reviews from {args.data}; {args.folds}-fold CV on the "
        f"{len(split.train_texts)} training reviews; {len(split.test_texts)} held out"
    )
    started = time.perf_counter()
    candidates = cross_validate(split, base, args.folds, grid(VECTORIZER_GRID), grid(MODEL_GRID))
    chosen = choose(candidates)
    print_ranking(candidates, args.top, chosen)
    print_per_value(candidates)
    print(f"(grid search: {time.perf_counter() - started:.0f} s)")

    current = Candidate(base.vectorizer.model_dump(), base.model.model_dump(exclude={"max_iter"}))
    seed = Candidate(dict(SEED_BASELINE["vectorizer"]), dict(SEED_BASELINE["model"]))
    for reference in (seed, current):
        scored = cross_validate(split, base, args.folds, [reference.vectorizer], [reference.model])
        reference.accuracy, reference.roc_auc = scored[0].accuracy, scored[0].roc_auc
    rows = [("seed baseline", seed), ("params.yaml as read", current), ("chosen", chosen)]
    if not args.no_char:
        rows.append(("chosen + char_wb", run_char_experiment(split, base, args.folds, chosen)))
    score_held_out(split, rows, base)
    if args.write:
        write_params(args.params, chosen)


if __name__ == "__main__":
    main()
