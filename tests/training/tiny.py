"""Tiny models, in-memory data, shards and recipes that make training tests take seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bit_finetune.catalog import TFRecordShardsDataset
from bit_finetune.config import TrainingParams, stage_params
from bit_finetune.evaluation.inference import predict_split
from bit_finetune.shards.records import ShardPayload, make_example
from bit_finetune.shards.shard_set import ShardSet
from bit_finetune.training.inputs import TrainData

CLASSES = 3
SIZE = 12  # stored (resize) side
CROP = 8


def tiny_model(classes: int = CLASSES) -> keras.Model:
    """Conv + GroupNorm + pooled dense head: the shape of a BiT classifier, in miniature."""
    images = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(images)
    x = keras.layers.GroupNormalization(groups=4)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(images, keras.layers.Dense(classes, name="head")(x))


def tiny_arrays(examples: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy uint8 images whose dominant colour channel is their class, and int64 labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, examples).astype("int64")
    images = rng.integers(0, 100, (examples, SIZE, SIZE, 3))
    images[np.arange(examples), :, :, labels] += 120
    return images.astype("uint8"), labels


def tiny_data(examples: int = 96, seed: int = 0, delay: float = 0.0) -> TrainData:
    """In-memory training data; ``delay`` seconds of sleep per example slow a run down."""
    images, labels = tiny_arrays(examples, seed)
    ids = np.array([f"x{i}" for i in range(examples)])

    def read(files: list[str] | None) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels, "id": ids})
        if delay:
            ds = ds.map(lambda e: {**e, "image": _sleep(e["image"], delay)})
        return ds

    return TrainData(read=read, examples=examples)


def _sleep(image: tf.Tensor, delay: float) -> tf.Tensor:
    def wait(x: np.ndarray) -> np.ndarray:
        import time

        time.sleep(delay)
        return x

    return tf.ensure_shape(tf.numpy_function(wait, [image], tf.uint8), image.shape)


def tiny_recipe(**values: Any) -> dict[str, Any]:
    """A HyperRule artefact for the tiny data (override any value)."""
    recipe = {
        "resize_size": SIZE,
        "crop_size": CROP,
        "batch_size": 16,
        "learning_rate": 0.1,
        "warmup_steps": 2,
        "lr_boundaries": [6, 8, 9],
        "total_steps": 10,
        "mixup_alpha": 0.0,
        "num_classes": CLASSES,
        "train_examples": 96,
        "median_area": 144.0,
        "batch_policy": "official",
        "schedule_bucket": "small",
        "reasons": {},
        "overrides": {},
    }
    recipe.update(values)
    return recipe


def tiny_params(**values: Any) -> TrainingParams:
    """Training parameters for tests: no progress bar, frequent logs and checkpoints,
    float32 (``auto`` might time the precisions on a CPU with native bfloat16)."""
    raw = {"progress": False, "log_every": 2, "checkpoint_every": 4, "strategy": "default",
           "mixed_precision": "off"}
    raw.update(values)
    return stage_params("training", raw)


COLOURS = ["red", "green", "blue"]
COLOUR_SIZE = 40  # stored side of the colour shards' images


def colour_shards(folder: Path, counts: dict[str, int], seed: int = 0) -> ShardSet:
    """A shard set of noisy PNG images whose dominant channel is their class (``COLOURS``),
    ``counts`` images per split, 8 per shard; another ``seed`` gives other images."""
    rng = np.random.default_rng(seed)

    def image(label: int) -> bytes:
        pixels = rng.integers(0, 80, (COLOUR_SIZE, COLOUR_SIZE, 3))
        pixels[..., label] += 150
        return tf.io.encode_png(pixels.astype("uint8")).numpy()

    records = {
        split: [make_example(image(i % 3), "png", i % 3, f"{split}-{i}", 64, 64)
                for i in range(count)]
        for split, count in counts.items()
    }  # fmt: skip
    dataset = TFRecordShardsDataset(str(folder))
    dataset.save(
        ShardPayload(
            splits=records,
            expected=dict(counts),
            metadata={"label_names": COLOURS, "image_size": COLOUR_SIZE},
            examples_per_shard=8,
        )
    )
    return dataset.load()


def evaluated(model: keras.Model, shards: ShardSet, crop_size: int) -> tuple[float, float]:
    """Top-1 and mean cross-entropy loss of ``model`` on the validation split of
    ``shards``, from the evaluation stage's inference (other batches than validation's)."""
    result = predict_split(model, shards, "validation", crop_size=crop_size, batch_size=5,
                           strategy=tf.distribute.get_strategy(), progress=False)  # fmt: skip
    picked = result.probabilities[np.arange(len(result.labels)), result.labels]
    top1 = (result.probabilities.argmax(axis=1) == result.labels).mean()
    return float(top1), float(-np.log(picked).mean())
