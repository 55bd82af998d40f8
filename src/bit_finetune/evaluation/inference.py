"""Distributed inference over one split of a TFRecord shard set.

The split is read twice from its shard files: once on the host for the example ids and
labels (cheap, nothing decoded), and once as preprocessed image batches tagged with each
record's position, distributed over the strategy's replicas like training batches. The
replicas return class probabilities; the host gathers them with their positions and
puts each row back in record order, so ids, labels and probabilities always line up,
whatever the number of replicas or workers. No string tensor ever reaches a device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from bit_finetune.core.progress import progress_bar
from bit_finetune.evaluation.metrics import TOP5, top_k
from bit_finetune.shards.records import parse_example, record_features
from bit_finetune.shards.transforms import eval_transform

KEY_FEATURES = {key: record_features()[key] for key in ("id", "label")}
READ_BATCH = 4096


class Shards(Protocol):
    """What inference needs from a ``ShardSet``."""

    image_size: int

    def files(self, split: str) -> list[str]: ...

    def verify(self, split: str) -> None: ...

    def naming_damage(self, split: str) -> AbstractContextManager[None]: ...


@dataclass(frozen=True)
class SplitPredictions:
    """The model's output on one split, in record order."""

    ids: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray

    def table(self, split: str, label_names: Sequence[str]) -> pd.DataFrame:
        """One row per example: the ``predictions`` artefact's columns."""
        names = np.asarray(label_names, dtype=object)
        predicted = self.probabilities.argmax(axis=1).astype(np.int64)
        return pd.DataFrame(
            {
                "id": pd.Series(self.ids, dtype=str),
                "split": split,
                "label": self.labels.astype(np.int64),
                "label_name": pd.Series(names[self.labels], dtype=str),
                "predicted": predicted,
                "predicted_name": pd.Series(names[predicted], dtype=str),
                "confidence": self.probabilities.max(axis=1).astype(np.float64),
                "correct": predicted == self.labels,
                "top_labels": list(top_k(self.probabilities, TOP5).astype(np.int64)),
            }
        )


def predict_split(
    model: keras.Model,
    shards: Shards,
    split: str,
    *,
    crop_size: int,
    batch_size: int,
    strategy: tf.distribute.Strategy,
    progress: bool = True,
) -> SplitPredictions:
    """Class probabilities for every example of ``split``.

    Images get the evaluation preprocessing of training (resize to ``crop_size``, scale
    to [0, 1]); ``batch_size`` is the global batch, split over the strategy's replicas.
    """
    return SplitPredictions(
        *split_outputs(
            model,
            shards,
            split,
            crop_size=crop_size,
            batch_size=batch_size,
            strategy=strategy,
            progress=progress,
            activation=tf.nn.softmax,
            desc=f"evaluate {split}",
        )
    )


def split_outputs(
    model: keras.Model,
    shards: Shards,
    split: str,
    *,
    crop_size: int,
    batch_size: int,
    strategy: tf.distribute.Strategy,
    progress: bool,
    activation: Callable[[tf.Tensor], tf.Tensor],
    desc: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ids, labels and ``activation`` of the model's float32 outputs for every example
    of ``split``, in record order (see :func:`predict_split`). The split's files are
    verified against the manifest first, and a damaged one is named."""
    shards.verify(split)
    files = shards.files(split)
    with shards.naming_damage(split):
        ids, labels = read_keys(files)
    replica_model = in_strategy_scope(model, strategy)
    width = int(replica_model.output_shape[-1])
    batches = eval_batches(files, shards.image_size, crop_size, batch_size)
    step = _forward_step(replica_model, strategy, activation)
    outputs = np.zeros((len(ids), width), dtype=np.float32)
    seen = np.zeros(len(ids), dtype=np.int64)
    with (
        shards.naming_damage(split),
        progress_bar(total=len(ids), unit="img", desc=desc, disable=not progress) as bar,
    ):
        for batch in strategy.experimental_distribute_dataset(batches):
            positions, batch_outputs = (t.numpy() for t in step(batch))
            outputs[positions] = batch_outputs
            np.add.at(seen, positions, 1)
            bar.update(len(positions))
    if not (seen == 1).all():
        raise RuntimeError(
            f"{desc}: {int((seen == 0).sum())} examples of split '{split}' got no "
            f"output and {int((seen > 1).sum())} more than one; the distributed input "
            "did not cover the split exactly once"
        )
    return ids, labels, outputs


def read_keys(files: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Ids (str) and labels (int64) of every record in ``files``, in record order."""
    keys = tf.data.TFRecordDataset(list(files)).map(
        lambda record: tf.io.parse_single_example(record, KEY_FEATURES),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    ids: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for chunk in keys.batch(READ_BATCH).as_numpy_iterator():
        ids.append(chunk["id"])
        labels.append(chunk["label"])
    if not ids:
        return np.array([], dtype=object), np.array([], dtype=np.int64)
    return (
        np.array([i.decode("utf-8") for i in np.concatenate(ids)], dtype=object),
        np.concatenate(labels).astype(np.int64),
    )


def read_images(files: Sequence[str], ids: Iterable[str]) -> dict[str, np.ndarray]:
    """The stored uint8 images of the records whose id is in ``ids``, by id.

    Only matching records are decoded. Ids not found are simply absent from the result.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    wanted_ids = tf.constant(wanted)

    def keep(record: tf.Tensor) -> tf.Tensor:
        key = tf.io.parse_single_example(record, KEY_FEATURES)["id"]
        return tf.reduce_any(tf.equal(key, wanted_ids))

    found = tf.data.TFRecordDataset(list(files)).filter(keep).map(parse_example)
    return {
        example["id"].decode("utf-8"): example["image"]
        for example in found.as_numpy_iterator()
    }


def in_strategy_scope(model: keras.Model, strategy: tf.distribute.Strategy) -> keras.Model:
    """``model`` itself if its variables belong to ``strategy``, else a copy built in it.

    A model loaded from disk lives outside any strategy; the copy places its variables
    the way the strategy needs them (mirrored on each replica, or on the TPU). It is made
    from the model's config, which keeps a classifier's description.
    """
    if not model.weights:
        return model
    first = model.weights[0]
    variable = first.value if isinstance(first, keras.Variable) else first
    if strategy.extended.variable_created_in_scope(variable):
        return model
    with strategy.scope():
        copy = type(model).from_config(model.get_config())
        copy.set_weights(model.get_weights())
    return copy


def eval_batches(
    files: Sequence[str], image_size: int, crop_size: int, batch_size: int
) -> tf.data.Dataset:
    """Batches of ``batch_size`` records of ``files`` in their evaluation view (see
    :func:`~bit_finetune.shards.transforms.eval_transform`): ``{"position": int64,
    "image": float32 [crop, crop, 3], "label": int64}``, ready for
    ``experimental_distribute_dataset`` (sharded by element, the last batch partial)."""
    transform = eval_transform(crop_size)

    def example(position: tf.Tensor, record: tf.Tensor) -> dict[str, tf.Tensor]:
        image, label = transform(parse_example(record, image_size))
        return {"position": position, "image": image, "label": label}

    # Sharded by element after enumerate(), so positions stay global across workers.
    return sharded_by_example(
        tf.data.TFRecordDataset(list(files))
        .enumerate()
        .map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def sharded_by_example(batches: tf.data.Dataset) -> tf.data.Dataset:
    """``batches`` split by example among the workers of a cluster (not by file)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.with_options(options)


def _forward_step(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    activation: Callable[[tf.Tensor], tf.Tensor],
) -> Callable[[Any], tuple[tf.Tensor, tf.Tensor]]:
    def forward(images: tf.Tensor) -> tf.Tensor:
        return activation(tf.cast(model(images, training=False), tf.float32))

    @tf.function(reduce_retracing=True)
    def step(batch: dict[str, Any]) -> tuple[tf.Tensor, tf.Tensor]:
        outputs = strategy.run(forward, args=(batch["image"],))
        return (
            strategy.gather(batch["position"], axis=0),
            strategy.gather(outputs, axis=0),
        )

    return step

