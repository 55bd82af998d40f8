"""What to fine-tune (``training.finetune``): everything, the head alone on persisted
backbone features, or the backbone from one of its stages on."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import keras

from bit_finetune.bit.classifier import freeze_below, head_model
from bit_finetune.config import TrainingParams
from bit_finetune.hyperrule import HyperRule
from bit_finetune.runtime.cluster import is_chief
from bit_finetune.runtime.strategy import choose_strategy
from bit_finetune.training.features import SPLIT, feature_data, split_features
from bit_finetune.training.inputs import TrainData
from bit_finetune.training.loop import Trainer, TrainingResult
from bit_finetune.training.recipe import recipe_record
from bit_finetune.training.validation import VALIDATION, ValidationData, validation_examples
from bit_finetune.training.workspaces import recipe_workspace

logger = logging.getLogger(__name__)

FEATURE_BATCH = 256  # images per forward pass while computing features


def finetune(
    build_classifier: Callable[[], keras.Model],
    shards: Any,
    recipe: HyperRule | Mapping[str, Any],
    params: TrainingParams,
    workspaces: Path,
    features_folder: Path,
) -> TrainingResult:
    """Fine-tune ``build_classifier()`` on the train split of ``shards`` as
    ``params.finetune`` says, in the recipe's own folder under ``workspaces``, validating
    on the validation split (if any, and ``training.eval_every`` is not null); the
    result's model is always the whole classifier.

    Head-only fine-tuning is validated on the validation images' backbone features,
    computed once beside the train features: the same scores as the whole classifier's
    (the backbone is frozen), for a pass of the head alone.
    """
    recipe = HyperRule.of(recipe)
    mode, crop_size = params.finetune, recipe.crop_size
    record = recipe_record(recipe, params, shards.manifest["splits"][SPLIT])
    workspace = recipe_workspace(workspaces, record, resume=params.resume, chief=is_chief())
    strategy = choose_strategy(params.strategy, params.cluster_start_timeout)
    validating = params.eval_every is not None and validation_examples(shards) > 0
    if mode.startswith("block"):
        logger.info("Fine-tuning from %s on: the root and earlier blocks stay frozen", mode)
    if mode != "head":

        def build() -> keras.Model:
            classifier = build_classifier()
            if mode != "full":
                freeze_below(classifier, mode)
            return classifier

        trainer = Trainer(build, recipe, params, workspace, strategy, record)
        validation = ValidationData.from_shards(shards, crop_size) if validating else None
        data = TrainData.from_shards(shards, SPLIT, params.skip_damaged_records)
        with data.naming_damage():
            return trainer.run(data, validation)

    logger.info("Fine-tuning the head only, on backbone features computed once per image")
    built: list[keras.Model] = []

    def build_head() -> keras.Model:
        built.append(build_classifier())
        return head_model(built[0])

    # The head is one dense layer: auto precision is float32, not timed.
    trainer = Trainer(build_head, recipe, params, workspace, strategy, record,
                      measure_precision=False)
    (classifier,) = built
    features = partial(
        split_features,
        classifier,
        shards,
        model=params.model,
        folder=features_folder,
        strategy=strategy,
        crop_size=crop_size,
        batch_size=FEATURE_BATCH,
        progress=params.progress,
        write=is_chief(),
    )
    data = feature_data(*features(SPLIT))
    validation = ValidationData.from_arrays(*features(VALIDATION)) if validating else None
    return replace(trainer.run(data, validation), model=classifier)
