"""Figures of an evaluation: confusion matrix and ROC curve (matplotlib, no display needed).

Each figure lays itself out when saved (`layout="tight"`): `savefig` first draws it without
rendering, to fit the layout, then draws it into the file (~0.05 s per figure for the first
pass). Calling `tight_layout()` here would add a layout the save computes again.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from sentiment_mlops.core.evaluation import Evaluation
from sentiment_mlops.core.labels import NEGATIVE, POSITIVE, label_names


def confusion_matrix_figure(evaluation: Evaluation) -> Figure:
    """A labelled 2x2 confusion matrix with counts in the cells."""
    matrix = evaluation.confusion()
    figure = Figure(figsize=(4.5, 4), layout="tight")
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
    figure = Figure(figsize=(4.5, 4), layout="tight")
    axes = figure.subplots()
    axes.plot(points["fpr"], points["tpr"], label=f"AUC = {evaluation.metrics.roc_auc:.3f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title("ROC curve (test split)")
    axes.legend(loc="lower right")
    return figure
