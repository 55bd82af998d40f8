"""The filtering pipeline's wiring: its nodes, their inputs, outputs and tags."""

from __future__ import annotations

from bit_finetune.pipelines.filtering import create_pipeline


def test_pipeline_wiring():
    (node,) = create_pipeline().nodes
    assert node.name == "filter_images" and node.tags == {"filtering"}
    assert node.inputs == ["image_index", "image_profile", "params:filtering"]
    assert node.outputs == ["filtered_index", "rejected_images"]
