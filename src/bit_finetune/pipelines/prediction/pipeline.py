"""Wiring of the prediction stage (run on demand: `kedro run --pipelines prediction`)."""

from kedro.pipeline import Node, Pipeline

from bit_finetune.pipelines.prediction.nodes import predict_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                predict_images,
                inputs=["prediction_images", "serving_model", "hyperrule", "params:prediction"],
                outputs="batch_predictions",
                name="predict_images",
                tags=["prediction"],
            ),
        ]
    )
