"""What to fine-tune (``training.finetune``): everything, the head alone on persisted
backbone features, or the backbone from one of its stages on."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import keras

from bit_finetune import bit
from bit_finetune.config import TrainingParams
from bit_finetune.training.cluster import is_chief
from bit_finetune.training.features import SPLIT, feature_key, train_features
from bit_finetune.training.inputs import TrainData
from bit_finetune.training.loop import Trainer, TrainingResult
from bit_finetune.training.strategy import choose_strategy
from bit_finetune.training.workspaces import recipe_record, recipe_workspace

logger = logging.getLogger(__name__)

FEATURE_BATCH = 256  # images per forward pass while computing features


def finetune(
    build_classifier: Callable[[], keras.Model],
    shards: Any,
    recipe: Mapping[str, Any],
    params: TrainingParams,
    workspaces: Path,
    features_folder: Path,
) -> TrainingResult:
    """Fine-tune ``build_classifier()`` on the train split of ``shards`` as
    ``params.finetune`` says, in the recipe's own folder under ``workspaces``; the
    result's model is always the whole classifier."""
    mode = params.finetune
    record = recipe_record(recipe, params, shards.manifest["splits"][SPLIT])
    workspace = recipe_workspace(workspaces, record, resume=params.resume, chief=is_chief())
    strategy = choose_strategy(params.strategy, params.cluster_start_timeout)
    if mode.startswith("block"):
        logger.info("Fine-tuning from %s on: the root and earlier blocks stay frozen", mode)
    if mode != "head":

        def build() -> keras.Model:
            classifier = build_classifier()
            if mode != "full":
                bit.freeze_below(classifier, mode)
            return classifier

        trainer = Trainer(build, recipe, params, workspace, strategy, record)
        data = TrainData.from_shards(shards, SPLIT, params.skip_damaged_records)
        with data.naming_damage():
            return trainer.run(data)

    logger.info("Fine-tuning the head only, on backbone features computed once per image")
    built: list[keras.Model] = []

    def build_head() -> keras.Model:
        built.append(build_classifier())
        return bit.head_model(built[0])

    trainer = Trainer(build_head, recipe, params, workspace, strategy, record)
    (classifier,) = built
    data = train_features(
        classifier,
        shards,
        recipe,
        feature_key(shards, int(recipe["crop_size"]), params.model),
        features_folder,
        strategy,
        batch_size=FEATURE_BATCH,
        progress=params.progress,
        write=is_chief(),
    )
    return replace(trainer.run(data), model=classifier)
