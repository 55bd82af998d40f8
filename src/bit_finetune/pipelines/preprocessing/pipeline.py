"""Wiring of the preprocessing stage."""

from kedro.pipeline import Node, Pipeline

from bit_finetune.pipelines.preprocessing.nodes import write_shards


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                write_shards,
                inputs=[
                    "raw_images",
                    "filtered_index",
                    "hyperrule",
                    "label_map",
                    "params:preprocessing",
                ],
                outputs="tfrecord_shards",
                name="write_shards",
                tags=["preprocessing"],
            )
        ]
    )
