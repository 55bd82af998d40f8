"""Nodes of the comparison stage: thin calls into :mod:`bit_finetune.evaluation.comparison`."""

from __future__ import annotations

import logging

import pandas as pd
from matplotlib.figure import Figure

from bit_finetune.evaluation.comparison import comparison_figure, comparison_table

logger = logging.getLogger(__name__)


def compare_runs(tracked_runs: pd.DataFrame) -> pd.DataFrame:
    """One row per evaluated tracked run: its recipe, test scores and wall time."""
    table = comparison_table(tracked_runs)
    logger.info(
        "Comparing %d evaluated run%s of %d tracked (%d dataset%s)",
        len(table),
        "" if len(table) == 1 else "s",
        len(tracked_runs),
        table["dataset"].nunique(),
        "" if table["dataset"].nunique() == 1 else "s",
    )
    return table


def plot_comparison(run_comparison: pd.DataFrame) -> Figure:
    """Each run's test top-1 by dataset, with its wall time beside it."""
    return comparison_figure(run_comparison)
