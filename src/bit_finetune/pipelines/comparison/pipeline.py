"""Wiring of the comparison stage (run on demand: `kedro run --pipelines comparison`)."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from bit_finetune.pipelines.comparison.nodes import compare_runs, plot_comparison


def create_pipeline(**kwargs) -> Pipeline:
    """Read the tracked runs, tabulate the evaluated ones, plot them."""
    return Pipeline(
        [
            Node(
                compare_runs,
                inputs="tracked_runs",
                outputs="run_comparison",
                name="compare_runs",
                tags=["comparison"],
            ),
            Node(
                plot_comparison,
                inputs="run_comparison",
                outputs="run_comparison_plot",
                name="plot_comparison",
                tags=["comparison"],
            ),
        ]
    )
