"""Figures of an evaluation: confusion matrix and ROC curve (matplotlib, no display needed).

The figures have fixed margins instead of a layout engine: their texts are all fixed (label
names, titles, axis labels, 0-1 ticks; the counts and the AUC sit inside the axes), so the room
they need is known, and `savefig` draws each figure once instead of twice (a tight layout first
draws it to measure it: ~0.035 s per figure, on every training run). A test checks that every
text lies inside its figure.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from sentiment_mlops.core.evaluation import Evaluation
from sentiment_mlops.core.labels import NEGATIVE, POSITIVE, label_names


def _figure() -> Figure:
    """A 4.5 x 4 inch figure with room for the texts around its axes.

    A little more room than a tight layout gives (left 0.19, bottom 0.15, right 0.97, top 0.91).
    """
    figure = Figure(figsize=(4.5, 4))
    figure.subplots_adjust(left=0.21, bottom=0.16, right=0.96, top=0.9)
    return figure


def confusion_matrix_figure(evaluation: Evaluation) -> Figure:
    """A labelled 2x2 confusion matrix with counts in the cells."""
    matrix = evaluation.confusion()
    figure = _figure()
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    names = label_names((NEGATIVE, POSITIVE))
    axes.set_xticks([0, 1], labels=names)
    axes.set_yticks([0, 1], labels=names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    peak = matrix.max() or 1
    for row in range(2):
        for column in range(2):
            value = matrix[row, column]
            colour = "white" if value > peak / 2 else "black"
            axes.text(column, row, str(value), ha="center", va="center", color=colour)
    axes.set_title("Confusion matrix (test split)")
    return figure


def roc_curve_figure(evaluation: Evaluation) -> Figure:
    """The ROC curve with its area in the legend."""
    points = evaluation.roc_points()
    figure = _figure()
    axes = figure.subplots()
    axes.plot(points["fpr"], points["tpr"], label=f"AUC = {evaluation.metrics.roc_auc:.3f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title("ROC curve (test split)")
    axes.legend(loc="lower right")
    return figure
