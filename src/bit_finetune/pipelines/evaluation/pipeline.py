"""Wiring of the evaluation stage."""

from kedro.pipeline import Node, Pipeline

from bit_finetune.pipelines.evaluation.nodes import (
    evaluate_classifier,
    plot_confusion_matrix,
    plot_worst_mistakes,
    write_report,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                evaluate_classifier,
                inputs=[
                    "classifier",
                    "tfrecord_shards",
                    "hyperrule",
                    "label_map",
                    "params:evaluation",
                ],
                outputs=["metrics", "predictions"],
                name="evaluate_classifier",
                tags=["evaluation"],
            ),
            Node(
                plot_confusion_matrix,
                inputs=["predictions", "label_map"],
                outputs="confusion_matrix_plot",
                name="plot_confusion_matrix",
                tags=["evaluation"],
            ),
            Node(
                plot_worst_mistakes,
                inputs=["predictions", "tfrecord_shards", "label_map", "params:evaluation"],
                outputs="mistakes_plot",
                name="plot_worst_mistakes",
                tags=["evaluation"],
            ),
            Node(
                write_report,
                inputs=[
                    "profile_summary",
                    "rejected_images",
                    "hyperrule",
                    "training_history",
                    "metrics",
                ],
                outputs="run_report",
                name="write_report",
                tags=["evaluation"],
            ),
        ]
    )
