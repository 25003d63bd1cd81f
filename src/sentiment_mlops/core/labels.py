"""Which label a row of probabilities means: the one rule for evaluation, serving and the CLI.

The class with the higher probability wins. On an exact tie (0.5 / 0.5) the negative class
wins, whatever the column order: it is the lower class label, and scikit-learn's own `predict`
(used by MLflow's pyfunc flavour) decides the same way, calling a review positive only when its
decision value is above 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    import numpy as np

NEGATIVE, POSITIVE = 0, 1
LabelName = Literal["negative", "positive"]  # in class order: NEGATIVE, POSITIVE
LABEL_NAMES: dict[int, LabelName] = dict(
    zip((NEGATIVE, POSITIVE), get_args(LabelName), strict=True)
)
# How data sets spell a label: our names, and the short ones of IMDb's folders (aclImdb).
LABEL_SPELLINGS: dict[str, int] = {
    **{name: c for c, name in LABEL_NAMES.items()},
    "neg": NEGATIVE,
    "pos": POSITIVE,
}


def label_names(classes: Sequence[Any]) -> tuple[str, ...]:
    """The name of each `predict_proba` column, from the model's `classes_`."""
    return tuple(LABEL_NAMES[int(c)] for c in classes)


def labels_from_proba(proba: Any, classes: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The winning class (a value of `classes`) of each row, and its probability.

    `proba` is `predict_proba`'s output and `classes` the model's `classes_` (its column order).
    Ties go to the lowest class (negative): columns are visited in class order and `argmax`
    keeps the first maximum.
    """
    import numpy as np  # here: the API's schemas import the names above at start-up

    proba = np.asarray(proba, dtype=float)
    values = np.asarray([int(c) for c in classes])
    in_class_order = np.argsort(values, kind="stable")
    best = in_class_order[np.argmax(proba[:, in_class_order], axis=1)]
    return values[best], proba[np.arange(len(proba)), best]
