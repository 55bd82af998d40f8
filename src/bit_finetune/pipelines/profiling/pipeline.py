"""Wiring of the profiling stage."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from bit_finetune.pipelines.profiling.nodes import (
    plot_class_balance,
    plot_resolution,
    profile_images,
    summarise_profile,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Profile every indexed image, then summarise and plot the profile."""
    return Pipeline(
        [
            Node(
                profile_images,
                inputs=["raw_images", "image_index", "params:profiling"],
                outputs="image_profile",
                name="profile_images",
                tags=["profiling"],
            ),
            Node(
                summarise_profile,
                inputs=["image_index", "image_profile"],
                outputs="profile_summary",
                name="summarise_profile",
                tags=["profiling"],
            ),
            Node(
                plot_resolution,
                inputs="image_profile",
                outputs="resolution_plot",
                name="plot_resolution",
                tags=["profiling"],
            ),
            Node(
                plot_class_balance,
                inputs="image_index",
                outputs="class_balance_plot",
                name="plot_class_balance",
                tags=["profiling"],
            ),
        ]
    )
