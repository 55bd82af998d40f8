"""Wiring of the ingestion stage."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from bit_finetune.pipelines.ingestion.nodes import index_images


def create_pipeline(**kwargs) -> Pipeline:
    """Index the raw image source into ``image_index`` and ``label_map``."""
    return Pipeline(
        [
            Node(
                index_images,
                inputs=["raw_images", "params:ingestion"],
                outputs=["image_index", "label_map"],
                name="index_images",
                tags=["ingestion"],
            )
        ]
    )
