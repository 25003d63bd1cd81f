"""The evaluation figures keep every text inside the figure (they have fixed margins)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from sentiment_mlops.core.evaluation import Evaluation
from sentiment_mlops.core.metrics import Metrics
from sentiment_mlops.core.plots import confusion_matrix_figure, roc_curve_figure


def _evaluation() -> Evaluation:
    """Large counts (wide cell texts) and a ROC curve with many points."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 20_000)
    probability = np.clip(labels * 0.3 + rng.random(labels.size) * 0.7, 0, 1)
    metrics = Metrics(accuracy=0.8, f1=0.8, precision=0.8, recall=0.8, roc_auc=0.875, log_loss=0.4)
    return Evaluation(
        metrics=metrics,
        labels=labels,
        predicted=(probability > 0.5).astype(int),
        positive_probability=probability,
    )


@pytest.mark.parametrize("make", [confusion_matrix_figure, roc_curve_figure])
def test_every_text_of_a_figure_lies_inside_it(make) -> None:
    figure: Figure = make(_evaluation())
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)  # places the ticks and their labels as a save would
    box = figure.bbox
    # Everything drawn, tick labels included: what a tight layout would fit into the figure.
    drawn = figure.get_tightbbox(renderer).transformed(figure.dpi_scale_trans)
    assert _inside(drawn, box), f"drawn area {drawn.bounds} exceeds {box.bounds}"
    # Each text but the tick labels (matplotlib keeps labels of ticks it does not draw).
    (axes,) = figure.axes
    tick_labels = {*axes.get_xticklabels(), *axes.get_yticklabels()}
    texts = [
        text
        for text in figure.findobj(Text)
        if text.get_visible() and text.get_text() and text not in tick_labels
    ]
    assert {axes.title, axes.xaxis.label, axes.yaxis.label} <= set(texts)
    for text in texts:
        extent = text.get_window_extent(renderer)
        assert _inside(extent, box), f"{text.get_text()!r} at {extent.bounds} is outside"


def _inside(inner: Bbox, outer: Bbox) -> bool:
    return (
        inner.x0 >= outer.x0
        and inner.y0 >= outer.y0
        and inner.x1 <= outer.x1
        and inner.y1 <= outer.y1
    )
