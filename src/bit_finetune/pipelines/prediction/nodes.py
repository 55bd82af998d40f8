"""Node of the prediction stage: a thin call into :mod:`bit_finetune.serving.prediction`
(imported inside the node, so that registering the pipelines does not import TensorFlow).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from bit_finetune.config import stage_params
from bit_finetune.data.source import ImageSource

logger = logging.getLogger(__name__)


def predict_images(
    prediction_images: ImageSource,
    serving_model: Any,
    hyperrule: dict[str, Any],
    params: dict[str, Any],
) -> pd.DataFrame:
    """Classify every image of ``prediction_images`` with the exported serving model.

    Images are resized to the HyperRule resize size as the training images were; broken
    files get a row with an ``error`` instead of a prediction.
    """
    from bit_finetune.serving import prediction

    settings = stage_params("prediction", params)
    logger.info("Predicting %s", prediction_images.describe())
    table = prediction.predict(
        prediction_images,
        serving_model,
        size=int(hyperrule["resize_size"]),
        top_k_classes=settings.top_k,
        batch_size=settings.batch_size,
        progress=settings.progress,
    )
    failed = int(table["error"].notna().sum())
    logger.info(
        "Predicted %d of %d images; %d could not be read or decoded (see the error column)",
        len(table) - failed,
        len(table),
        failed,
    )
    return table
