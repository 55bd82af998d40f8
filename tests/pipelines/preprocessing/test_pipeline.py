"""The preprocessing pipeline's wiring: its nodes, their inputs, outputs and tags."""

from __future__ import annotations

from bit_finetune.pipelines.preprocessing import create_pipeline


def test_pipeline_wiring():
    (node,) = create_pipeline().nodes
    assert node.name == "write_shards" and node.tags == {"preprocessing"}
    assert node.inputs == [
        "raw_images",
        "filtered_index",
        "hyperrule",
        "label_map",
        "params:preprocessing",
    ]
    assert node.outputs == ["tfrecord_shards"]
