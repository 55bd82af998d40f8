"""Classification metrics from true labels and predicted class probabilities (NumPy only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

TOP5 = 5


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``[true, predicted]`` as an int64 ``num_classes x num_classes`` matrix."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    for name, values in (("label", labels), ("prediction", predicted)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"a {name} lies outside the {num_classes} classes [0, {num_classes})")
    flat = np.bincount(labels * num_classes + predicted, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def top_k(probabilities: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` most probable classes per row, most probable first."""
    k = min(k, probabilities.shape[1])
    return np.argsort(-probabilities, axis=1, kind="stable")[:, :k]


def top_k_accuracy(labels: np.ndarray, probabilities: np.ndarray, k: int) -> float:
    """Fraction of examples whose label is among the ``k`` most probable classes."""
    if len(labels) == 0:
        return float("nan")
    hits = (top_k(probabilities, k) == np.asarray(labels)[:, None]).any(axis=1)
    return float(hits.mean())


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix.

    A ratio whose denominator is zero (no predictions of a class, no examples of it)
    counts as 0, as scikit-learn does.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    hits = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _ratio(hits, predicted)
    recall = _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support.astype(np.int64),
        "predicted": predicted.astype(np.int64),
    }


def split_metrics(
    labels: np.ndarray, probabilities: np.ndarray, label_names: Sequence[str]
) -> dict[str, Any]:
    """The JSON-ready metrics of one split.

    Macro averages run over the classes that occur in the split's labels or predictions
    (scikit-learn's default), so a class absent from a small split does not count as 0.
    ``top5`` is present only when there are more than five classes.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    num_classes = len(label_names)
    if probabilities.shape != (len(labels), num_classes):
        raise ValueError(
            f"probabilities have shape {probabilities.shape}; expected "
            f"({len(labels)}, {num_classes}) for {len(labels)} labels and {num_classes} classes"
        )
    matrix = confusion_matrix(labels, probabilities.argmax(axis=1), num_classes)
    scores = per_class_scores(matrix)
    seen = (scores["support"] > 0) | (scores["predicted"] > 0)
    result: dict[str, Any] = {
        "examples": len(labels),
        "top1": top_k_accuracy(labels, probabilities, 1),
    }
    if num_classes > TOP5:
        result["top5"] = top_k_accuracy(labels, probabilities, TOP5)
    for key in ("precision", "recall", "f1"):
        result[f"macro_{key}"] = float(scores[key][seen].mean()) if seen.any() else float("nan")
    result["per_class"] = {
        name: {
            "precision": float(scores["precision"][i]),
            "recall": float(scores["recall"][i]),
            "f1": float(scores["f1"][i]),
            "support": int(scores["support"][i]),
        }
        for i, name in enumerate(label_names)
    }
    result["confusion_matrix"] = matrix.tolist()
    return result


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)
