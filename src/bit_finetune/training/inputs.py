"""The distributed training input pipeline: shard, shuffle, augment, batch, MixUp."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import tensorflow as tf

from bit_finetune.config import AugmentParams
from bit_finetune.training.augment import feature_transform, mixup, seed_stream, train_transform

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainData:
    """The training split as the loop reads it.

    ``read(files)`` returns a dataset of parsed examples (``{"image": uint8 [S, S, 3],
    "label": int64, ...}``) from the given subset of ``files``, or from everything when
    ``files`` is None. Sources without files (in-memory data) leave ``files`` empty and
    are split by example instead. ``kind="features"``: each ``"image"`` is a backbone
    feature vector (float32 ``[F]``), taken as it is (see :mod:`.features`).
    """

    read: Callable[[list[str] | None], tf.data.Dataset]
    examples: int
    files: tuple[str, ...] = ()
    kind: Literal["images", "features"] = "images"

    @classmethod
    def from_shards(cls, shards: Any, split: str = "train") -> TrainData:
        """A split of a ``ShardSet`` (the ``tfrecord_shards`` artefact)."""
        return cls(
            read=lambda files: shards.dataset(split, files=files),
            examples=shards.count(split),
            files=tuple(shards.files(split)),
        )


def pipeline_seeds(seed: int, start_step: int, pipeline_id: int) -> tuple[int, int, int]:
    """Seeds for shuffling, per-example augmentation and MixUp of one input pipeline.

    They differ per pipeline (workers see different augmentations) and per start step,
    so a resumed run does not replay the random draws of the run it continues.
    """
    state = np.random.SeedSequence([seed, start_step, pipeline_id]).generate_state(3)
    return tuple(int(s) for s in state)


def shard_examples(data: TrainData, context: tf.distribute.InputContext) -> tf.data.Dataset:
    """This input pipeline's part of the data: whole files when there are enough of them
    for every pipeline, else every n-th example."""
    n, i = context.num_input_pipelines, context.input_pipeline_id
    if n == 1:
        return data.read(None)
    if len(data.files) >= n:
        files = list(data.files[i::n])
        logger.info("Input pipeline %d/%d reads %d file(s)", i, n, len(files))
        return data.read(files)
    logger.info("Input pipeline %d/%d takes every %d-th example", i, n, n)
    return data.read(None).shard(n, i)


def train_dataset(
    data: TrainData,
    recipe: Mapping[str, Any],
    augment: AugmentParams,
    *,
    shuffle_buffer: int,
    seeds: Sequence[int],
    context: tf.distribute.InputContext,
) -> tf.data.Dataset:
    """Endless batches of ``(images, one_hot_labels)`` at the per-replica batch size
    (feature vectors instead of images for ``kind="features"``: no crop or flip; MixUp,
    when on, blends them as it blends images).

    Images are uint8 pixels when they were only cut and flipped (the train step scales
    them with :func:`~bit_finetune.training.augment.as_unit_float`), float32 in [0, 1]
    when they were resized or mixed (see
    :func:`~bit_finetune.training.augment.train_transform`).
    """
    shuffle_seed, augment_seed, mixup_seed = seeds
    per_replica = context.get_per_replica_batch_size(int(recipe["batch_size"]))
    classes = int(recipe["num_classes"])
    transform = (
        feature_transform(classes)
        if data.kind == "features"
        else train_transform(
            int(recipe["crop_size"]),
            classes,
            random_crop=augment.random_crop,
            random_flip=augment.random_flip,
        )
    )
    ds = shard_examples(data, context).shuffle(shuffle_buffer, seed=shuffle_seed).repeat()
    ds = tf.data.Dataset.zip((ds, seed_stream(augment_seed)))
    ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(per_replica, drop_remainder=True)
    alpha = float(recipe["mixup_alpha"])
    if alpha > 0:
        blend = mixup(alpha)
        ds = tf.data.Dataset.zip((ds, seed_stream(mixup_seed))).map(
            lambda batch, seed: blend(*batch, seed), num_parallel_calls=tf.data.AUTOTUNE
        )
    return ds.prefetch(tf.data.AUTOTUNE)
