"""The ingestion pipeline's wiring: its nodes, their inputs, outputs and tags."""

from __future__ import annotations

from bit_finetune.pipelines.ingestion import create_pipeline


def test_pipeline_wiring():
    (node,) = create_pipeline().nodes
    assert node.name == "index_images"
    assert node.inputs == ["raw_images", "params:ingestion"]
    assert node.outputs == ["image_index", "label_map"]
    assert node.tags == {"ingestion"}
