"""A toy dataset and model whose every prediction is known in advance.

Each image is one flat colour: channel ``colour`` at ``brightness``, the others 0. The
colour model averages the pixels and scores channel ``c`` as ``10 * mean_c``, so it
always predicts the image's colour, with a confidence that grows with brightness. A
label that differs from the colour is therefore a mistake, and brighter mistakes are
more confident ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from bit_finetune.bit.description import DescribedModel
from bit_finetune.catalog import TFRecordShardsDataset
from bit_finetune.shards.records import ShardPayload, make_example
from bit_finetune.shards.shard_set import ShardSet

LABEL_NAMES = ["red", "green", "blue"]
IMAGE_SIZE = 8
CROP_SIZE = 4
SCALE = 10.0
PREDICTION_COLUMNS = [
    "id", "split", "label", "label_name", "predicted", "predicted_name", "confidence",
    "correct", "top_labels",
]  # fmt: skip
"""The ``predictions`` artefact's columns, in order."""


@dataclass(frozen=True)
class Toy:
    id: str
    label: int
    colour: int
    brightness: float

    def image(self) -> np.ndarray:
        pixels = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        pixels[..., self.colour] = round(255 * self.brightness)
        return pixels

    @property
    def confidence(self) -> float:
        """The colour model's probability of its prediction."""
        top = np.exp(SCALE * round(255 * self.brightness) / 255)
        return float(top / (top + len(LABEL_NAMES) - 1))


def toys(split: str, count: int, wrong: Mapping[int, int] | None = None) -> list[Toy]:
    """``count`` examples of colour ``i % 3``; ``wrong`` relabels example i (a mistake)."""
    wrong = wrong or {}
    return [
        Toy(
            id=f"{split}-{i:02d}",
            label=wrong.get(i, i % 3),
            colour=i % 3,
            brightness=0.3 + 0.06 * i,
        )
        for i in range(count)
    ]


def write_shards(path: Path, splits: Mapping[str, Sequence[Toy]], per_shard: int = 4) -> ShardSet:
    """Write ``splits`` as a real shard set (PNG, lossless) and load it back."""
    dataset = TFRecordShardsDataset(str(path))
    records = {
        split: [
            make_example(tf.io.encode_png(toy.image()).numpy(), "png", toy.label, toy.id, 32, 32)
            for toy in items
        ]
        for split, items in splits.items()
    }
    dataset.save(
        ShardPayload(
            splits=records,
            expected={split: len(items) for split, items in records.items()},
            metadata={"label_names": LABEL_NAMES, "image_size": IMAGE_SIZE},
            examples_per_shard=per_shard,
        )
    )
    return dataset.load()


def colour_model(num_classes: int = 3, name: str = "R14x0.25_colour") -> keras.Model:
    """Predicts the brightest channel of the image (``num_classes`` outputs, >= 3); it
    describes itself as an R14x0.25 from random weights."""
    kernel = np.zeros((3, num_classes), dtype=np.float32)
    kernel[:, :3] = SCALE * np.eye(3)
    images = keras.Input(shape=(None, None, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(images)
    head = keras.layers.Dense(num_classes, name="head")
    logits = head(pooled)
    head.set_weights([kernel, np.zeros(num_classes, dtype=np.float32)])
    return DescribedModel(
        images, logits, architecture="R14x0.25", initial_weights="random", name=name
    )
