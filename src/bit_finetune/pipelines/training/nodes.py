"""Nodes of the training stage: thin calls into :mod:`bit_finetune.training`.

The TensorFlow-bound modules are imported inside the nodes, so that registering the
pipelines (``kedro viz``, a run of the data stages alone) does not import TensorFlow.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure

from bit_finetune.bit import Classifier
from bit_finetune.config import stage_params
from bit_finetune.errors import naming_keys
from bit_finetune.hyperrule import HyperRule
from bit_finetune.runtime.cluster import is_chief
from bit_finetune.training.plots import training_curves_figure

if TYPE_CHECKING:
    from bit_finetune.serving.export import ServingModule
else:
    ServingModule = Any  # a tf.Module: named here without importing TensorFlow

logger = logging.getLogger(__name__)


def train_classifier(
    tfrecord_shards: Any,
    hyperrule: dict[str, Any],
    params: dict[str, Any],
    training_workspace: Path,
    backbone_features: Path,
) -> tuple[Classifier, pd.DataFrame]:
    """Fine-tune a BiT classifier on the train shards following the HyperRule.

    Published weights given by name are fetched into the weights cache first (by the
    chief; other workers wait for its file); the classifier records them by that name.
    Trains in the recipe's own folder under ``training_workspace``, resuming from its
    checkpoints (see :mod:`bit_finetune.training.workspaces`); ``training.finetune: head``
    trains on backbone features kept in ``backbone_features``. Validates on the validation split
    every ``training.eval_every`` steps. Returns the model and the history (step, loss,
    learning_rate, accuracy, images_per_second, val_loss, val_accuracy).
    """
    from bit_finetune.bit.classifier import build_classifier
    from bit_finetune.bit.download import resolve_weights
    from bit_finetune.training.finetune import finetune

    settings, recipe = stage_params("training", params), HyperRule.of(hyperrule)
    model, classes = settings.model, recipe.num_classes
    with naming_keys("training"):
        weights = resolve_weights(
            model.weights,
            cache_dir=model.cache_dir,
            base_url=model.base_url,
            download=is_chief(),
            wait_seconds=model.download_wait,
            progress=settings.progress,
        )
        result = finetune(
            lambda: build_classifier(
                model.architecture, classes, weights, weights_name=model.weights
            ),
            tfrecord_shards,
            recipe,
            settings,
            training_workspace,
            backbone_features,
        )
    if not result.history.empty:
        last = result.history.iloc[-1]
        top1 = last["val_accuracy"]
        validated = "" if pd.isna(top1) else f", validation top-1 {top1:.3f}"
        logger.info(
            "Training ended at step %d: loss %.4f, train accuracy %.3f%s",
            result.final_step,
            last["loss"],
            last["accuracy"],
            validated,
        )
    return result.model, result.history


def export_serving_model(
    classifier: Classifier, hyperrule: dict[str, Any], label_map: dict[str, Any]
) -> ServingModule:
    """Wrap the classifier with resizing to the crop size and its label names."""
    from bit_finetune.serving.export import serving_module

    return serving_module(classifier, HyperRule.of(hyperrule).crop_size, label_map["names"])


def plot_training_curves(training_history: pd.DataFrame) -> Figure:
    """Loss, accuracy and learning rate against the step
    (:func:`~bit_finetune.training.plots.training_curves_figure`)."""
    return training_curves_figure(training_history)
