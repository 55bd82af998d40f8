"""Figures of the image profile, as standalone Matplotlib ``Figure`` objects: image
resolutions against the HyperRule's small-image threshold, and the class balance per
split.

No pyplot state is touched, so the figures can be built in any thread and are saved by
whatever holds them (the Kedro catalog).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bit_finetune.data.splits import split_order
from bit_finetune.hyperrule import SMALL_IMAGE_AREA


def resolution_figure(image_profile: pd.DataFrame) -> Figure:
    """Width against height of every decodable image, with the HyperRule's 96x96 line."""
    good = image_profile[image_profile["decodable"]]
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.add_subplot()
    ax.set(xlabel="width (px)", ylabel="height (px)")
    ax.set_title(f"Image resolution ({len(good):,} decodable images)")
    if good.empty:
        ax.text(0.5, 0.5, "no decodable images", ha="center", va="center")
        return fig
    width = good["width"].to_numpy("float64")
    height = good["height"].to_numpy("float64")
    ax.scatter(width, height, s=8, alpha=min(1.0, 30 / np.sqrt(len(good))), linewidths=0)
    ax.set(xscale="log", yscale="log")
    lo = min(width.min(), height.min(), 96) / 2
    hi = max(width.max(), height.max(), 96) * 2
    edge = np.geomspace(lo, hi, 64)
    side = np.sqrt(SMALL_IMAGE_AREA)
    share = float((width * height < SMALL_IMAGE_AREA).mean())
    label = f"area {side:.0f}x{side:.0f} (HyperRule threshold): {share:.0%} below"
    ax.plot(edge, SMALL_IMAGE_AREA / edge, color="tab:red", linestyle="--", label=label)
    ax.set(xlim=(lo, hi), ylim=(lo, hi))
    ax.legend(loc="upper left")
    return fig


def class_balance_figure(image_index: pd.DataFrame) -> Figure:
    """Examples per class, stacked by split."""
    counts = (
        image_index.groupby(["label", "label_name", "split"]).size().unstack("split", fill_value=0)
    )
    counts = counts[split_order(image_index["split"])]
    names = counts.index.get_level_values("label_name")
    fig = Figure(figsize=(min(20, 4 + 0.4 * len(counts)), 5), layout="constrained")
    ax = fig.add_subplot()
    bottom = np.zeros(len(counts))
    for split in counts.columns:
        ax.bar(range(len(counts)), counts[split], bottom=bottom, label=split)
        bottom += counts[split].to_numpy()
    ax.set(ylabel="examples", title=f"Class balance ({len(counts)} classes)")
    if len(counts) <= 60:
        ax.set_xticks(range(len(counts)), names, rotation=90 if len(counts) > 10 else 0)
    if len(counts):
        ax.legend()
    return fig
