"""Nodes of the evaluation stage: metrics, predictions, report figures and the report.

The TensorFlow-bound modules are imported inside the nodes, so that registering the
pipelines does not import TensorFlow.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from bit_finetune.bit import Classifier
from bit_finetune.config import stage_params
from bit_finetune.evaluation import plots, report
from bit_finetune.evaluation.metrics import confusion_matrix
from bit_finetune.hyperrule import HyperRule

logger = logging.getLogger(__name__)

REPORT_SPLIT = "test"


def evaluate_classifier(
    classifier: Classifier,
    tfrecord_shards: Any,
    hyperrule: dict[str, Any],
    label_map: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Predict every example of the ``evaluation.splits`` and score the predictions.

    Inference is distributed like training (the ``auto`` strategy). Splits that the
    shards lack or that are empty are skipped with a log line.
    """
    from bit_finetune.evaluation import scoring
    from bit_finetune.evaluation.inference import predict_split
    from bit_finetune.runtime.strategy import choose_strategy

    settings, recipe = stage_params("evaluation", params), HyperRule.of(hyperrule)
    names = list(label_map["names"])
    scoring.check_classes(classifier, names)
    predict = partial(
        predict_split,
        classifier,
        tfrecord_shards,
        crop_size=recipe.crop_size,
        batch_size=settings.batch_size,
        strategy=choose_strategy("auto"),
        progress=settings.progress,
    )
    metrics: dict[str, Any] = {"model": scoring.model_record(classifier, recipe)}
    tables = []
    for split in scoring.splits_to_score(tfrecord_shards, settings.splits):
        metrics[split], table = scoring.score_split(predict(split), split, names)
        tables.append(table)
    if not tables:
        logger.warning(
            "evaluation.splits: none of %s could be evaluated; metrics hold only the model",
            list(settings.splits),
        )
    return metrics, scoring.predictions_table(tables, names)


def plot_confusion_matrix(predictions: pd.DataFrame, label_map: dict[str, Any]) -> Figure:
    """The test split's confusion matrix, rows normalised, counts in the cells."""
    names = list(label_map["names"])
    test = predictions[predictions["split"] == REPORT_SPLIT]
    title = f"Confusion matrix, {REPORT_SPLIT} split"
    if test.empty:
        return plots.message_figure(title, f"No predictions on the {REPORT_SPLIT} split.")
    matrix = confusion_matrix(test["label"].to_numpy(), test["predicted"].to_numpy(), len(names))
    accuracy = float(test["correct"].mean())
    return plots.confusion_matrix_figure(
        matrix, names, f"{title} ({len(test):,} examples, top-1 {accuracy:.1%})"
    )


def plot_worst_mistakes(
    predictions: pd.DataFrame,
    tfrecord_shards: Any,
    label_map: dict[str, Any],
    params: dict[str, Any],
) -> Figure:
    """The ``evaluation.worst_mistakes`` most confident wrong predictions on the test split."""
    from bit_finetune.evaluation.inference import read_images

    settings = stage_params("evaluation", params)
    test = predictions[predictions["split"] == REPORT_SPLIT]
    title = f"Most confident mistakes, {REPORT_SPLIT} split"
    if test.empty:
        return plots.message_figure(title, f"No predictions on the {REPORT_SPLIT} split.")
    wrong = test[~test["correct"].astype(bool)]
    worst = wrong.sort_values(["confidence", "id"], ascending=[False, True]).head(
        settings.worst_mistakes
    )
    images = read_images(tfrecord_shards.files(REPORT_SPLIT), worst["id"]) if len(worst) else {}
    if len(worst):
        title += (
            f"\n{len(worst)} of {len(wrong):,} mistakes "
            f"({len(wrong) / len(test):.1%} of {len(test):,} examples)"
        )
    return plots.mistakes_figure(worst, images, title)


def write_report(
    profile_summary: dict[str, Any],
    rejected_images: pd.DataFrame,
    hyperrule: dict[str, Any],
    training_history: pd.DataFrame,
    metrics: dict[str, Any],
) -> str:
    """The run report (Markdown): data, HyperRule, training, scores and links to the plots."""
    return report.render(profile_summary, rejected_images, hyperrule, training_history, metrics)
