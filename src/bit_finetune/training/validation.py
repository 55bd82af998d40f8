"""Validation during training: top-1 and mean loss on the validation split every
``training.eval_every`` steps, computed by every replica of the training strategy.

Only the model's forward pass runs, in inference mode, on the evaluation view of the
images (:func:`~bit_finetune.evaluation.inference.eval_batches`): no random op and no
training variable is touched, so training follows the same course with validation on
or off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from bit_finetune.evaluation.inference import eval_batches, sharded_by_example
from bit_finetune.shards.transforms import as_unit_float

VALIDATION = "validation"
POINTS = 10  # validation passes per run with eval_every: auto, besides the last step


def validation_interval(
    setting: int | Literal["auto"] | None, total_steps: int, log_every: int
) -> int | None:
    """Steps between validation passes (``training.eval_every``; None: no validation).

    ``auto``: ``total_steps / POINTS`` rounded to a multiple of ``log_every``, at least
    ``log_every``, so that validation falls on history rows.
    """
    if setting != "auto":
        return setting
    return max(1, round(total_steps / (POINTS * log_every))) * log_every


def validation_examples(shards: Any) -> int:
    """Examples in the validation split of a ``ShardSet`` (0 when it has none)."""
    return shards.count(VALIDATION) if VALIDATION in shards.splits() else 0


@dataclass(frozen=True)
class ValidationData:
    """The validation split as the loop evaluates it.

    ``batches(batch_size)`` gives every example once, in global batches of
    ``{"image": ..., "label": int64, ...}`` (the last one partial), sharded by example
    for ``experimental_distribute_dataset``; ``examples`` counts them.
    """

    batches: Callable[[int], tf.data.Dataset]
    examples: int

    @classmethod
    def from_shards(cls, shards: Any, crop_size: int) -> ValidationData:
        """The validation split of a ``ShardSet``, images in their evaluation view."""
        files, size = shards.files(VALIDATION), shards.image_size
        return cls(
            batches=lambda batch_size: eval_batches(files, size, crop_size, batch_size),
            examples=shards.count(VALIDATION),
        )

    @classmethod
    def from_arrays(cls, images: np.ndarray, labels: np.ndarray) -> ValidationData:
        """Examples held in memory: images (or backbone features) and int labels."""

        def batches(batch_size: int) -> tf.data.Dataset:
            examples = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
            return sharded_by_example(examples.batch(batch_size))

        return cls(batches=batches, examples=len(labels))


class Scores(NamedTuple):
    """One validation pass: top-1 accuracy and mean cross-entropy loss."""

    accuracy: float
    loss: float


def validator(
    model: keras.Model,
    data: ValidationData,
    strategy: tf.distribute.Strategy,
    *,
    batch_size: int,
    jit: bool,
) -> Callable[[], Scores]:
    """``validate()``: the :class:`Scores` of ``model`` on ``data`` as it is now.

    The distributed dataset and the graph are built here, once: every call runs the same
    graph, in which each replica sums the losses and hits of its share of each global
    batch of ``batch_size`` and ``strategy.reduce`` adds them up over all replicas. In a
    multi-worker cluster every worker must call it at the same steps.
    """
    batches = strategy.experimental_distribute_dataset(data.batches(batch_size))
    total = tf.distribute.ReduceOp.SUM

    @tf.function(jit_compile=jit)
    def replica_sums(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        logits = tf.cast(model(as_unit_float(images), training=False), tf.float32)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        hits = tf.cast(tf.argmax(logits, -1) == labels, tf.float32)
        count = tf.cast(tf.size(labels), tf.float32)
        return tf.stack([tf.reduce_sum(losses), tf.reduce_sum(hits), count])

    @tf.function
    def sums(iterator: Any) -> tf.Tensor:
        result = tf.zeros([3])
        for batch in iterator:
            per_replica = strategy.run(replica_sums, args=(batch["image"], batch["label"]))
            result += strategy.reduce(total, per_replica, axis=None)
        return result

    def validate() -> Scores:
        loss, hits, count = (float(value) for value in sums(iter(batches)).numpy())
        if count != data.examples:
            raise RuntimeError(
                f"validation: {count:.0f} of {data.examples} examples were evaluated; the "
                "distributed input did not cover the validation split exactly once"
            )
        return Scores(accuracy=hits / count, loss=loss / count)

    return validate
