"""A tiny exported serving model (BiT R14x0.25) whose head is set by the test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bit_finetune.bit.classifier import build_classifier
from bit_finetune.catalog import SavedModelDataset
from bit_finetune.serving.export import serving_module

NAMES = ("cat", "dog", "bird")
CROP = 24


def export_tiny_model(
    path: Path,
    bias: Sequence[float],
    names: Sequence[str] = NAMES,
    kernel_scale: float = 0.0,
    seed: int = 0,
) -> Path:
    """Save a serving model at ``path`` whose logits are ``features @ kernel + bias``.

    The kernel is seeded N(0, kernel_scale); with ``kernel_scale`` 0 the head ignores
    the image and the probabilities are ``softmax(bias)``.
    """
    model = build_classifier("R14x0.25", len(names))
    head = model.get_layer("head")
    shape = head.get_weights()[0].shape
    kernel = np.random.default_rng(seed).normal(0.0, kernel_scale, shape)
    head.set_weights([kernel.astype("float32"), np.asarray(bias, dtype="float32")])
    SavedModelDataset(str(path)).save(serving_module(model, CROP, list(names)))
    return path


def softmax(logits: Sequence[float]) -> np.ndarray:
    exp = np.exp(np.asarray(logits, dtype=np.float64) - max(logits))
    return exp / exp.sum()
