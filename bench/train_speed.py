"""Training speed: images/second of the training loop, and of the input pipeline alone.

Runs the real training loop (``bit_finetune.training.loop.train``: distributed step,
SGD, schedule, logging) on in-memory images for the embedded default's small BiT at its
crop and batch size (read from ``conf/base/parameters``), and for R50x1 at 128x128 with
batch 32. Then writes seeded JPEG shards with ``TFRecordShardsDataset`` into a temporary
folder and times the training input pipeline over them (read, decode, shuffle, augment,
batch, MixUp) with no model at all.

    python bench/train_speed.py [--steps 8] [--skip-r50] [--model R26x0.5:128:64 ...]

``--model NAME:CROP:BATCH`` replaces the default list. The first steps (tracing) are not
counted; the figure is the median over the timed steps.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import yaml

from bit_finetune import bit
from bit_finetune.config import AugmentParams, stage_params
from bit_finetune.datasets.tfrecord_shards import (
    ShardPayload,
    TFRecordShardsDataset,
    make_example,
)
from bit_finetune.hyperrule import derive
from bit_finetune.training.inputs import TrainData, train_dataset
from bit_finetune.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
WARMUP_STEPS = 2
CLASSES = 10


def embedded_default() -> tuple[str, dict, dict]:
    """Architecture, HyperRule recipe and training parameters of the embedded default."""
    params = {}
    for stage in ("training", "hyperrule"):
        path = ROOT / "conf" / "base" / "parameters" / f"{stage}.yml"
        params.update(yaml.safe_load(path.read_text()))
    rule = stage_params("hyperrule", params["hyperrule"])
    recipe = derive(
        train_examples=1437,
        median_area=64.0,
        num_classes=CLASSES,
        batch_size=rule.batch_size,
        batch_policy=rule.batch_policy,
        overrides=rule.overrides,
    )
    return params["training"]["model"]["architecture"], recipe, params["training"]


def smooth_images(count: int, size: int, seed: int) -> np.ndarray:
    """Photo-like uint8 images: colour gradients plus a block, mild noise."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 1, size, dtype=np.float32)
    out = np.empty((count, size, size, 3), np.uint8)
    for i in range(count):
        image = rng.uniform(0, 255, 3) + np.outer(grid, grid)[..., None] * rng.uniform(-150, 150, 3)
        x0, y0 = rng.integers(0, size // 2, 2)
        image[y0 : y0 + size // 3, x0 : x0 + size // 3] += rng.uniform(-90, 90, 3)
        image += rng.normal(0, 5, image.shape)
        out[i] = np.clip(image, 0, 255).astype(np.uint8)
    return out


def training_speed(
    architecture: str, crop: int, batch: int, steps: int, recipe: dict, training: dict
) -> float:
    """Median images/second of the training loop (in-memory input at crop size)."""
    images = smooth_images(max(batch, 64), crop, seed=0)
    labels = np.arange(len(images), dtype=np.int64) % CLASSES
    data = TrainData(
        read=lambda files: tf.data.Dataset.from_tensor_slices(
            {"image": images, "label": labels}
        ).cache(),
        examples=len(images),
    )
    total = WARMUP_STEPS + steps
    run_recipe = {
        **recipe,
        "resize_size": crop,
        "crop_size": crop,
        "batch_size": batch,
        "total_steps": total,
        "warmup_steps": 1,
        "lr_boundaries": [total - 1] * 3,
    }
    params = stage_params(
        "training",
        {
            **training,
            "model": {"architecture": architecture, "weights": "random"},
            "log_every": 1,
            "checkpoint_every": 10**6,
            "progress": False,
        },
    )
    with tempfile.TemporaryDirectory() as workspace:
        result = train(
            lambda: bit.build_classifier(architecture, CLASSES, "random"),
            data,
            run_recipe,
            params,
            Path(workspace),
        )
    return statistics.median(result.history["images_per_second"].iloc[WARMUP_STEPS:])


def input_speed(recipe: dict, augment: AugmentParams, batches: int) -> tuple[float, float]:
    """images/second of (decode only, the full training input pipeline) from shards."""
    size, count = int(recipe["resize_size"]), 1024
    images = smooth_images(count, size, seed=1)
    records = [
        make_example(
            tf.io.encode_jpeg(img, quality=95).numpy(), "jpeg", i % CLASSES, f"x{i}", size, size
        )
        for i, img in enumerate(images)
    ]
    with tempfile.TemporaryDirectory() as folder:
        store = TFRecordShardsDataset(os.path.join(folder, "shards"))
        store.save(
            ShardPayload(
                splits={"train": records},
                expected={"train": count},
                metadata={"label_names": [str(c) for c in range(CLASSES)], "image_size": size},
                examples_per_shard=128,
            )
        )
        shards = store.load()
        start = time.perf_counter()
        decoded = sum(int(b["label"].shape[0]) for b in shards.dataset("train").batch(256))
        decode_rate = decoded / (time.perf_counter() - start)
        batch = int(recipe["batch_size"])
        ds = train_dataset(
            TrainData.from_shards(shards),
            recipe,
            augment,
            shuffle_buffer=1024,
            seeds=(1, 2, 3),
            context=tf.distribute.InputContext(),
        )
        iterator = iter(ds)
        next(iterator)
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        pipeline_rate = batches * batch / (time.perf_counter() - start)
    return decode_rate, pipeline_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per model")
    parser.add_argument("--skip-r50", action="store_true", help="leave out R50x1")
    parser.add_argument("--model", action="append", default=[], metavar="NAME:CROP:BATCH")
    parser.add_argument("--batches", type=int, default=30, help="input-pipeline batches")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    architecture, recipe, training = embedded_default()
    models = [tuple(m.split(":")) for m in args.model] or [
        (architecture, recipe["crop_size"], recipe["batch_size"]),
        *([] if args.skip_r50 else [("R50x1", 128, 32)]),
    ]
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for name, crop, batch in models:
        rate = training_speed(name, int(crop), int(batch), args.steps, recipe, training)
        print(f"train  {name:>9} {crop}x{crop} batch {batch:>3}: {rate:8.1f} images/s")
    augment = stage_params("training", training).augment
    decode_rate, pipeline_rate = input_speed(recipe, augment, args.batches)
    size = recipe["resize_size"]
    print(f"input  decode {size}x{size} JPEG shards:        {decode_rate:8.1f} images/s")
    print(
        f"input  training pipeline (crop {recipe['crop_size']}, batch "
        f"{recipe['batch_size']}): {pipeline_rate:8.1f} images/s"
    )


if __name__ == "__main__":
    main()
