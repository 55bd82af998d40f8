"""Wiring of the filtering stage."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from bit_finetune.pipelines.filtering.nodes import filter_images


def create_pipeline(**kwargs) -> Pipeline:
    """Split the index into the examples to keep and the rejected ones, with reasons."""
    return Pipeline(
        [
            Node(
                filter_images,
                inputs=["image_index", "image_profile", "params:filtering"],
                outputs=["filtered_index", "rejected_images"],
                name="filter_images",
                tags=["filtering"],
            )
        ]
    )
