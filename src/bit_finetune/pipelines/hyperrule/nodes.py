"""Nodes of the HyperRule stage."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from bit_finetune import hyperrule
from bit_finetune.config import stage_params

logger = logging.getLogger(__name__)


def derive_hyperrule(
    filtered_index: pd.DataFrame, label_map: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Derive resolution, schedule, MixUp, batch and LR from the kept training images.

    The image size is the median area of the training images as measured by profiling,
    so the rule works for any dataset, not a table of known names.
    """
    settings = stage_params("hyperrule", params)
    train = filtered_index[filtered_index["split"] == "train"]
    if train.empty:
        raise ValueError(
            "hyperrule: no training images left after filtering; check the filtering "
            "parameters and the rejected_images report"
        )
    area = (train["width"].astype("float64") * train["height"].astype("float64")).median()
    recipe = hyperrule.derive(
        train_examples=len(train),
        median_area=float(area),
        num_classes=len(label_map["names"]),
        batch_size=settings.batch_size,
        batch_policy=settings.batch_policy,
        overrides=settings.overrides,
    )
    for key in ("resize_size", "total_steps", "learning_rate", "mixup_alpha"):
        logger.info("HyperRule %s = %s: %s", key, recipe[key], recipe["reasons"][key])
    return recipe
