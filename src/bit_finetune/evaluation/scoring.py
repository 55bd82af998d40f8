"""Scoring a classifier on the splits of a shard set: which splits, each split's scores
and predictions table, and the model's own record beside them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd

from bit_finetune.bit.description import describe
from bit_finetune.evaluation.inference import SplitPredictions
from bit_finetune.evaluation.metrics import split_metrics
from bit_finetune.hyperrule import HyperRule

logger = logging.getLogger(__name__)


def check_classes(model: keras.Model, names: Sequence[str]) -> None:
    """Raise unless ``model`` predicts one class per label name."""
    outputs = int(model.output_shape[-1])
    if outputs != len(names):
        raise ValueError(
            f"evaluation: the classifier predicts {outputs} classes but label_map names "
            f"{len(names)}; train the classifier on this dataset first "
            "(kedro run --pipeline training)"
        )


def model_record(model: keras.Model, recipe: HyperRule) -> dict[str, Any]:
    """The metrics' ``model`` entry: name, architecture (from the model's description;
    None for a model without one), size and the recipe's image sizes."""
    description = describe(model)
    return {
        "name": model.name,
        "architecture": description and description.architecture,
        "parameters": int(model.count_params()),
        "num_classes": int(model.output_shape[-1]),
        "resize_size": recipe.resize_size,
        "crop_size": recipe.crop_size,
    }


def splits_to_score(shards: Any, wanted: Iterable[str]) -> list[str]:
    """The ``wanted`` splits that ``shards`` hold with examples, in order and once each;
    the others are skipped with a log line."""
    available = set(shards.splits())
    chosen = []
    for split in dict.fromkeys(wanted):
        if split not in available:
            logger.warning(
                "evaluation.splits: the shards hold no split '%s' (they hold %s); skipped",
                split,
                sorted(available),
            )
        elif shards.count(split) == 0:
            logger.info("Evaluation: split '%s' is empty; skipped", split)
        else:
            chosen.append(split)
    return chosen


def score_split(
    result: SplitPredictions, split: str, names: Sequence[str]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The scores of ``split`` from its predictions (logged), and its predictions table."""
    scores = split_metrics(result.labels, result.probabilities, names)
    logger.info(
        "Evaluation on %s: %d examples, top-1 %.4f%s, macro F1 %.4f",
        split,
        scores["examples"],
        scores["top1"],
        f", top-5 {scores['top5']:.4f}" if "top5" in scores else "",
        scores["macro_f1"],
    )
    return scores, result.table(split, names)


def predictions_table(tables: Sequence[pd.DataFrame], names: Sequence[str]) -> pd.DataFrame:
    """The splits' predictions as one table; without any, an empty one with its columns."""
    if tables:
        return pd.concat(tables, ignore_index=True)
    empty = SplitPredictions(
        ids=np.array([], dtype=object),
        labels=np.array([], dtype=np.int64),
        probabilities=np.zeros((0, len(names)), dtype=np.float32),
    )
    return empty.table("", names)  # no rows, so no split
