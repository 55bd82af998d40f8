"""Figures of the image profile: resolutions against the HyperRule's threshold, and the
class balance per split."""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.figure import Figure

from bit_finetune.imaging.plots import class_balance_figure, resolution_figure


def _sizes(widths: list[int | None], heights: list[int | None]) -> pd.DataFrame:
    """Profile rows of these sizes; None marks an undecodable image."""
    return pd.DataFrame(
        {
            "width": pd.array(widths, dtype="Int64"),
            "height": pd.array(heights, dtype="Int64"),
            "decodable": [w is not None for w in widths],
        }
    )


# Areas 5000, 20000, 2500, 120000, 6400 and one undecodable image: 3 of 5 below 96x96.
PROFILE = _sizes([100, 200, 50, 400, 80, None], [50, 100, 50, 300, 80, None])
INDEX = pd.DataFrame(
    {
        "label": [1, 1, 0, 0, 0, 1],
        "label_name": ["dog", "dog", "cat", "cat", "cat", "dog"],
        "split": ["train", "train", "train", "validation", "test", "test"],
    }
)


def _renders(figure: Figure) -> bool:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue().startswith(b"\x89PNG")


def test_resolution_plot_draws_the_hyperrule_threshold():
    figure = resolution_figure(PROFILE)
    assert isinstance(figure, Figure) and _renders(figure)
    (ax,) = figure.axes
    assert "96x96" in ax.get_legend().get_texts()[0].get_text()
    assert "60% below" in ax.get_legend().get_texts()[0].get_text()
    assert _renders(resolution_figure(_sizes([None], [None])))


def test_class_balance_plot_stacks_splits_per_class():
    figure = class_balance_figure(INDEX)
    assert isinstance(figure, Figure) and _renders(figure)
    (ax,) = figure.axes
    heights = [round(bar.get_height()) for bar in ax.patches]
    assert heights == [1, 2, 1, 0, 1, 1]  # train, validation, test for cat then dog
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"]
