"""Backbone features for head-only fine-tuning: computed once per image, kept on disk.

``training.finetune: head`` freezes the backbone, so each image's features never change:
they are computed once (the evaluation view of the image: resized to the crop size, no
crop or flip) into ``<folder>/<split>-<key>.npz``; the head trains on the train split's
and is validated on the validation split's. The key hashes what decides the features:
the split's shards (their manifest entry, with checksums), the crop size and the weights
(a local weights file also by size and modification time), so a rerun reuses them and
any change computes them anew.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bit_finetune.bit.classifier import feature_extractor
from bit_finetune.config import ModelParams
from bit_finetune.core.files import StagedLocalFileSystem, content_hash
from bit_finetune.evaluation.inference import split_outputs
from bit_finetune.training.inputs import TrainData

logger = logging.getLogger(__name__)

SPLIT = "train"


def feature_key(shards: Any, crop_size: int, model: ModelParams, split: str = SPLIT) -> str:
    """A hash of everything that decides the backbone features of ``split``."""
    weights: dict[str, Any] = {"source": model.weights, "architecture": model.architecture}
    if os.path.isfile(model.weights):
        stat = os.stat(model.weights)
        weights.update(size=stat.st_size, modified_ns=stat.st_mtime_ns)
    content = {
        "shards": shards.manifest["splits"][split],
        "image_size": shards.image_size,
        "crop_size": crop_size,
        "weights": weights,
    }
    return content_hash(content)


def split_features(
    classifier: keras.Model,
    shards: Any,
    split: str,
    model: ModelParams,
    folder: Path,
    strategy: tf.distribute.Strategy,
    *,
    crop_size: int,
    batch_size: int,
    progress: bool,
    write: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Backbone features and labels of ``split``: read from ``folder`` when computed
    before with the same key, else computed under ``strategy`` (and saved when ``write``)."""
    key = feature_key(shards, crop_size, model, split)
    path = Path(folder) / f"{split}-{key[:16]}.npz"
    if path.exists():
        with np.load(path) as stored:
            features, labels = stored["features"], stored["labels"]
        logger.info("Backbone features of %d %s images read from %s", len(labels), split, path)
        return features, labels
    started = time.perf_counter()
    _, labels, features = split_outputs(
        feature_extractor(classifier),
        shards,
        split,
        crop_size=crop_size,
        batch_size=batch_size,
        strategy=strategy,
        progress=progress,
        activation=tf.identity,
        desc=f"features {split}",
    )
    seconds = time.perf_counter() - started
    logger.info(
        "Backbone features of %d %s images computed in %.1f s (%.0f images/s)",
        len(labels),
        split,
        seconds,
        len(labels) / max(seconds, 1e-9),
    )
    if write:
        with StagedLocalFileSystem(auto_mkdir=True).open(str(path), "wb") as f:
            np.savez(f, features=features, labels=labels)
        logger.info("Saved them to %s for later runs", path)
    return features, labels


def feature_data(features: np.ndarray, labels: np.ndarray) -> TrainData:
    """Backbone features and labels as the training loop's data."""

    def read(files: list[str] | None) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices({"image": features, "label": labels})

    return TrainData(read=read, examples=len(labels), kind="features")
