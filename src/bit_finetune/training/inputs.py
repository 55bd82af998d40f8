"""The distributed training input pipeline: shard, shuffle, augment, batch, MixUp."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import tensorflow as tf

from bit_finetune.config import AugmentParams
from bit_finetune.hyperrule import HyperRule
from bit_finetune.shards.transforms import feature_transform, mixup, seed_stream, train_transform

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainData:
    """The training split as the loop reads it.

    ``read(files)`` returns a dataset of parsed examples (``{"image": uint8 [S, S, 3],
    "label": int64, ...}``) from the given subset of ``files``, or from everything when
    ``files`` is None. Sources without files (in-memory data) leave ``files`` empty and
    are split by example instead. ``kind="features"``: each ``"image"`` is a backbone
    feature vector (float32 ``[F]``), taken as it is (see :mod:`.features`).

    Iterate the data inside ``naming_damage()``: there a record of a shard file that
    cannot be read (damaged after it was verified) stops with a
    :class:`~bit_finetune.errors.ShardDamagedError` naming the file.
    """

    read: Callable[[list[str] | None], tf.data.Dataset]
    examples: int
    files: tuple[str, ...] = ()
    kind: Literal["images", "features"] = "images"
    naming_damage: Callable[[], AbstractContextManager[None]] = nullcontext

    @classmethod
    def from_shards(cls, shards: Any, split: str = "train", skip_damaged: bool = False) -> TrainData:
        """A split of a ``ShardSet`` (the ``tfrecord_shards`` artefact), its files
        verified first (see :func:`verified_files`)."""
        files, examples = verified_files(shards, split, skip_damaged)
        return cls(
            read=lambda chosen: shards.dataset(
                split, files=files if chosen is None else chosen, skip_damaged=skip_damaged
            ),
            examples=examples,
            files=tuple(files),
            naming_damage=lambda: shards.naming_damage(split),
        )


def verified_files(shards: Any, split: str, skip_damaged: bool) -> tuple[list[str], int]:
    """The files of ``split`` to read and how many examples they yield, every file
    checked against the manifest (size and SHA-256) first.

    A missing or damaged file stops with ``ShardDamagedError`` naming it. With
    ``skip_damaged`` (``training.skip_damaged_records``) a missing file is left out and a
    damaged one read up to its first record that cannot be read; a warning counts the
    records skipped.
    """
    if not skip_damaged:
        shards.verify(split)
        return shards.files(split), shards.count(split)
    damaged = shards.damaged(split)
    skipped = {shard.path: shard.records - shards.readable_records(shard) for shard in damaged}
    if damaged:
        logger.warning(
            "training.skip_damaged_records: %d of the %d records of split '%s' are skipped "
            "in every epoch: %s",
            sum(skipped.values()),
            shards.count(split),
            split,
            "; ".join(f"{s.problem}: {skipped[s.path]} of its {s.records} records" for s in damaged),
        )
    missing = {shard.path for shard in damaged if shard.missing}
    files = [path for path in shards.files(split) if path not in missing]
    return files, shards.count(split) - sum(skipped.values())


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
    recipe: HyperRule,
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
    them with :func:`~bit_finetune.shards.transforms.as_unit_float`), float32 in [0, 1]
    when they were resized or mixed (see
    :func:`~bit_finetune.shards.transforms.train_transform`).
    """
    shuffle_seed, augment_seed, mixup_seed = seeds
    per_replica = context.get_per_replica_batch_size(recipe.batch_size)
    classes = recipe.num_classes
    transform = (
        feature_transform(classes)
        if data.kind == "features"
        else train_transform(
            recipe.crop_size,
            classes,
            random_crop=augment.random_crop,
            random_flip=augment.random_flip,
        )
    )
    ds = shard_examples(data, context).shuffle(shuffle_buffer, seed=shuffle_seed).repeat()
    ds = tf.data.Dataset.zip((ds, seed_stream(augment_seed)))
    ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(per_replica, drop_remainder=True)
    alpha = recipe.mixup_alpha
    if alpha > 0:
        blend = mixup(alpha)
        ds = tf.data.Dataset.zip((ds, seed_stream(mixup_seed))).map(
            lambda batch, seed: blend(*batch, seed), num_parallel_calls=tf.data.AUTOTUNE
        )
    return ds.prefetch(tf.data.AUTOTUNE)
