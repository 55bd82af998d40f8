"""Wiring of the HyperRule stage."""

from kedro.pipeline import Node, Pipeline

from bit_finetune.pipelines.hyperrule.nodes import derive_hyperrule


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                derive_hyperrule,
                inputs=["filtered_index", "label_map", "params:hyperrule"],
                outputs="hyperrule",
                name="derive_hyperrule",
                tags=["hyperrule"],
            )
        ]
    )
