"""The training curves of a run, as a standalone Matplotlib ``Figure`` (no pyplot state
is touched).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# Panels of the training curves: their columns of the history, each with its legend label.
CURVES = {
    "loss": {"loss": "train", "val_loss": "validation"},
    "accuracy": {"accuracy": "train", "val_accuracy": "validation"},
    "learning rate": {"learning_rate": None},
}


def training_curves_figure(training_history: pd.DataFrame) -> Figure:
    """Loss and accuracy (on the train batches, and on the validation split where it was
    measured) and the learning rate against the step."""
    figure = Figure(figsize=(12, 3.6), layout="constrained")
    for axes, (title, curves) in zip(figure.subplots(1, 3), CURVES.items()):
        for column, label in curves.items():
            _curve(axes, training_history, column, label)
        if len(axes.lines) > 1:
            axes.legend()
        axes.set_title(title)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
    if len(training_history):
        figure.suptitle(f"Training history to step {int(training_history['step'].max())}")
    return figure


def _curve(axes: Axes, history: pd.DataFrame, column: str, label: str | None) -> None:
    """The measured points of ``column``, if any (a history written before validation
    existed lacks its columns)."""
    points = history.reindex(columns=["step", column]).dropna()
    if len(points):
        axes.plot(points["step"], points[column], marker=".", lw=1.2, label=label)
