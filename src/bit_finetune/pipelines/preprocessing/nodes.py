"""Nodes of the preprocessing stage (:mod:`bit_finetune.shards.plan` plans the
shards)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bit_finetune.config import PreprocessingParams, stage_params
from bit_finetune.data.source import ImageSource
from bit_finetune.shards.plan import plan_shards
from bit_finetune.shards.records import ShardPayload


def write_shards(
    raw_images: ImageSource,
    filtered_index: pd.DataFrame,
    hyperrule: dict[str, Any],
    label_map: dict[str, Any],
    params: dict[str, Any],
) -> ShardPayload:
    """Plan the shard set: every kept image, upright RGB, resized once to the HyperRule's
    ``resize_size`` square and re-encoded.

    The returned payload is lazy: images are read, converted (in ``workers`` processes)
    and written while ``tfrecord_shards`` saves it. Each split is written in a fixed
    shuffled order of ids, so shards mix classes and the same input gives byte-identical
    shards. An image that fails to decode is skipped with a warning and listed in the
    manifest.
    """
    settings: PreprocessingParams = stage_params("preprocessing", params)
    size = int(hyperrule["resize_size"])
    return plan_shards(raw_images, filtered_index, size, label_map["names"], settings)
