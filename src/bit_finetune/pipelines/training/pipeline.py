"""Wiring of the training stage."""

from kedro.pipeline import Node, Pipeline

from bit_finetune.pipelines.training.nodes import (
    export_serving_model,
    plot_training_curves,
    train_classifier,
)


def create_pipeline(settings: str = "params:training", **kwargs) -> Pipeline:
    """Train, export and plot; ``settings`` names the training parameters' input (a
    dataset computed upstream instead of ``params:training``, e.g. weights to start from)."""
    return Pipeline(
        [
            Node(
                train_classifier,
                inputs=[
                    "tfrecord_shards",
                    "hyperrule",
                    settings,
                    "training_workspace",
                    "backbone_features",
                ],
                outputs=["classifier", "training_history"],
                name="train_classifier",
                tags=["training"],
            ),
            Node(
                export_serving_model,
                inputs=["classifier", "hyperrule", "label_map"],
                outputs="serving_model",
                name="export_serving_model",
                tags=["training"],
            ),
            Node(
                plot_training_curves,
                inputs="training_history",
                outputs="training_curves_plot",
                name="plot_training_curves",
                tags=["training"],
            ),
        ]
    )
