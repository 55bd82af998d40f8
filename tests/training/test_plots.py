"""The training curves: loss, accuracy and learning rate against the step, with the
validation points where they were measured."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bit_finetune.training.history import HISTORY_COLUMNS
from bit_finetune.training.plots import training_curves_figure

# A history as training writes it, validated at every logged step.
HISTORY = pd.DataFrame(
    [
        [3, 1.10, 0.05, 0.40, 120.0, 1.00, 0.45],
        [6, 0.80, 0.005, 0.60, 130.0, 0.90, 0.55],
        [9, 0.50, 0.0005, 0.75, 125.0, 0.70, 0.65],
    ],
    columns=HISTORY_COLUMNS,
)


def test_plot_training_curves():
    figure = training_curves_figure(HISTORY)
    assert isinstance(figure, Figure)
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == ["loss", "accuracy", "learning rate"]
    np.testing.assert_allclose(figure.axes[2].lines[0].get_ydata(), HISTORY["learning_rate"])
    for axes, column in zip(figure.axes, ("loss", "accuracy")):
        train, validation = axes.lines
        assert (train.get_label(), validation.get_label()) == ("train", "validation")
        np.testing.assert_allclose(train.get_ydata(), HISTORY[column])
        np.testing.assert_allclose(validation.get_ydata(), HISTORY[f"val_{column}"])
        assert axes.get_legend() is not None


def test_plot_training_curves_without_validation():
    """Validation off, or a history written before validation existed: train curves only."""
    history = pd.DataFrame({"step": [3, 6], "loss": [1.0, 0.5], "learning_rate": [0.1, 0.1],
                            "accuracy": [0.5, 0.7], "images_per_second": [10.0, 11.0]})  # fmt: skip
    for table in (history, history.assign(val_loss=np.nan, val_accuracy=np.nan)):
        figure = training_curves_figure(table)
        assert [len(axes.lines) for axes in figure.axes] == [1, 1, 1]
        assert all(axes.get_legend() is None for axes in figure.axes)
