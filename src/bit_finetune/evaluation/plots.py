"""Report figures of an evaluation, as standalone Matplotlib ``Figure`` objects.

No pyplot state is touched, so the figures can be built in any thread and are saved by
whatever holds them (the Kedro catalog).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

ANNOTATE_UP_TO = 20
NAME_TICKS_UP_TO = 60
GRID_COLUMNS = 4
TEXT_WIDTH = 26


def confusion_matrix_figure(
    matrix: np.ndarray, label_names: Sequence[str], title: str = "Confusion matrix"
) -> Figure:
    """Rows normalised to the fraction of each true class; counts written in each cell.

    Counts are written when there are at most 20 classes, class names on the axes when
    there are at most 60.
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    n = len(label_names)
    rows = matrix.sum(axis=1, keepdims=True)
    fractions = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    side = min(16.0, max(5.0, 2.5 + 0.5 * n))
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.add_subplot()
    shown = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(shown, ax=ax, shrink=0.8, label="fraction of the true class")
    ax.set_title(title)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= NAME_TICKS_UP_TO:
        names = [_short(name) for name in label_names]
        slanted = n > 4 and max(map(len, names)) > 3
        ax.set_xticks(
            range(n), names, rotation=45 if slanted else 0, ha="right" if slanted else "center"
        )
        ax.set_yticks(range(n), names)
    if n <= ANNOTATE_UP_TO:
        for (true, predicted), count in np.ndenumerate(matrix):
            ax.text(
                predicted,
                true,
                str(count),
                ha="center",
                va="center",
                fontsize=9,
                color="white" if fractions[true, predicted] > 0.5 else "black",
            )
    return fig


def mistakes_figure(
    mistakes: pd.DataFrame, images: Mapping[str, np.ndarray], title: str
) -> Figure:
    """A grid of wrong predictions: each tile the image, its true and predicted class.

    ``mistakes`` has the ``predictions`` columns ``id``, ``label_name``,
    ``predicted_name`` and ``confidence``; ``images`` maps ids to uint8 images.
    """
    if mistakes.empty:
        return message_figure(title, "No mistakes: every example was classified correctly.")
    count = len(mistakes)
    columns = min(GRID_COLUMNS, count)
    rows = math.ceil(count / columns)
    fig = Figure(figsize=(max(3.0 * columns, 7.0), 3.4 * rows + 0.8), layout="constrained")
    fig.suptitle(title)
    for tile, row in enumerate(mistakes.itertuples(index=False)):
        ax = fig.add_subplot(rows, columns, tile + 1)
        ax.set_axis_off()
        image = images.get(row.id)
        if image is None:
            ax.text(0.5, 0.5, "image not found\nin the shards", ha="center", va="center")
        else:
            ax.imshow(image)
        ax.set_title(
            f"{_short(row.id)}\ntrue: {_short(row.label_name)}\n"
            f"predicted: {_short(row.predicted_name)} ({row.confidence:.1%})",
            fontsize=9,
            color="firebrick",
        )
    return fig


def message_figure(title: str, message: str) -> Figure:
    """A small figure that says why there is nothing to draw."""
    fig = Figure(figsize=(6.0, 2.5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return fig


def _short(text: str) -> str:
    text = str(text)
    return text if len(text) <= TEXT_WIDTH else "..." + text[-(TEXT_WIDTH - 3) :]
