"""Nodes of the evaluation stage: metrics, predictions, report figures and the report.

The TensorFlow-bound modules are imported inside the nodes, so that registering the
pipelines does not import TensorFlow.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bit_finetune import bit
from bit_finetune.bit import ARCHITECTURES
from bit_finetune.config import stage_params
from bit_finetune.evaluation import plots, report
from bit_finetune.evaluation.metrics import confusion_matrix, split_metrics

if TYPE_CHECKING:
    from bit_finetune.evaluation.inference import SplitPredictions

logger = logging.getLogger(__name__)

REPORT_SPLIT = "test"
ARCHITECTURE = re.compile(r"R(\d+)x(\d+(?:[._]\d+)?)")


def evaluate_classifier(
    classifier: bit.Classifier,
    tfrecord_shards: Any,
    hyperrule: dict[str, Any],
    label_map: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Predict every example of the ``evaluation.splits`` and score the predictions.

    Inference is distributed like training (the ``auto`` strategy). Splits that the
    shards lack or that are empty are skipped with a log line.
    """
    from bit_finetune.evaluation.inference import predict_split
    from bit_finetune.training.strategy import choose_strategy

    settings = stage_params("evaluation", params)
    names = list(label_map["names"])
    outputs = int(classifier.output_shape[-1])
    if outputs != len(names):
        raise ValueError(
            f"evaluation: the classifier predicts {outputs} classes but label_map names "
            f"{len(names)}; train the classifier on this dataset first "
            "(kedro run --pipeline training)"
        )
    strategy = choose_strategy("auto")
    metrics: dict[str, Any] = {"model": _model_info(classifier, hyperrule)}
    tables = []
    available = set(tfrecord_shards.splits())
    for split in dict.fromkeys(settings.splits):
        if split not in available:
            logger.warning(
                "evaluation.splits: the shards hold no split '%s' (they hold %s); skipped",
                split,
                sorted(available),
            )
            continue
        if tfrecord_shards.count(split) == 0:
            logger.info("Evaluation: split '%s' is empty; skipped", split)
            continue
        result = predict_split(
            classifier,
            tfrecord_shards,
            split,
            crop_size=int(hyperrule["crop_size"]),
            batch_size=settings.batch_size,
            strategy=strategy,
            progress=settings.progress,
        )
        scores = split_metrics(result.labels, result.probabilities, names)
        metrics[split] = scores
        tables.append(result.table(split, names))
        logger.info(
            "Evaluation on %s: %d examples, top-1 %.4f%s, macro F1 %.4f",
            split,
            scores["examples"],
            scores["top1"],
            f", top-5 {scores['top5']:.4f}" if "top5" in scores else "",
            scores["macro_f1"],
        )
    if not tables:
        logger.warning(
            "evaluation.splits: none of %s could be evaluated; metrics hold only the model",
            list(settings.splits),
        )
        tables.append(_no_predictions(len(names)).table(REPORT_SPLIT, names))
    return metrics, pd.concat(tables, ignore_index=True)


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


def _model_info(model: bit.Classifier, hyperrule: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": model.name,
        "architecture": _architecture(model.name),
        "parameters": int(model.count_params()),
        "num_classes": int(model.output_shape[-1]),
        "resize_size": int(hyperrule["resize_size"]),
        "crop_size": int(hyperrule["crop_size"]),
    }


def _architecture(model_name: str) -> str | None:
    """The BiT architecture a model name mentions (``bit_R50x1``, ``bit_R26x0_5``), if any."""
    found = ARCHITECTURE.search(model_name)
    name = f"R{found[1]}x{found[2].replace('_', '.')}" if found else None
    return name if name in ARCHITECTURES else None


def _no_predictions(num_classes: int) -> SplitPredictions:
    from bit_finetune.evaluation.inference import SplitPredictions

    return SplitPredictions(
        ids=np.array([], dtype=object),
        labels=np.array([], dtype=np.int64),
        probabilities=np.zeros((0, num_classes), dtype=np.float32),
    )
