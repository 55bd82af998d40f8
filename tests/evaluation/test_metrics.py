"""Metrics from labels and probabilities, checked against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as sk

from bit_finetune.evaluation.metrics import (
    confusion_matrix,
    per_class_scores,
    split_metrics,
    top_k,
    top_k_accuracy,
)

NAMES = ["cat", "dog", "fox"]
LABELS = np.array([0, 0, 0, 0, 1, 1, 2, 2])
PREDICTED = np.array([0, 0, 0, 1, 1, 1, 2, 0])


def confident(predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Probabilities with 0.8 on the predicted class, the rest shared evenly."""
    probs = np.full((len(predicted), num_classes), 0.2 / (num_classes - 1))
    probs[np.arange(len(predicted)), predicted] = 0.8
    return probs


def test_confusion_matrix_counts_true_rows_predicted_columns():
    matrix = confusion_matrix(LABELS, PREDICTED, 3)
    assert matrix.tolist() == [[3, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert matrix.dtype == np.int64


def test_toy_case_matches_hand_computation():
    m = split_metrics(LABELS, confident(PREDICTED, 3), NAMES)
    # precision = diagonal / column sums (4, 3, 1); recall = diagonal / row sums (4, 2, 2)
    expected = {
        "cat": (3 / 4, 3 / 4, 3 / 4, 4),
        "dog": (2 / 3, 1.0, 0.8, 2),
        "fox": (1.0, 1 / 2, 2 / 3, 2),
    }
    for name, (precision, recall, f1, support) in expected.items():
        scores = m["per_class"][name]
        assert scores["precision"] == pytest.approx(precision)
        assert scores["recall"] == pytest.approx(recall)
        assert scores["f1"] == pytest.approx(f1)
        assert scores["support"] == support
    assert m["examples"] == 8
    assert m["top1"] == pytest.approx(6 / 8)
    assert m["macro_precision"] == pytest.approx((3 / 4 + 2 / 3 + 1) / 3)
    assert m["macro_recall"] == pytest.approx((3 / 4 + 1 + 1 / 2) / 3)
    assert m["macro_f1"] == pytest.approx((3 / 4 + 0.8 + 2 / 3) / 3)
    assert m["confusion_matrix"] == [[3, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert "top5" not in m  # three classes: top-5 would always be 100%
    json.dumps(m)  # plain Python types only


def test_top5_is_reported_with_more_than_five_classes():
    names = [f"c{i}" for i in range(7)]
    probs = np.array(
        [
            [0.30, 0.20, 0.15, 0.12, 0.10, 0.08, 0.05],  # label 6 ranks 7th: top-5 miss
            [0.30, 0.05, 0.08, 0.25, 0.12, 0.10, 0.10],  # label 3 ranks 2nd: top-5 hit
            [0.05, 0.08, 0.10, 0.12, 0.15, 0.20, 0.30],  # label 6 ranks 1st: top-1 hit
        ]
    )
    m = split_metrics(np.array([6, 3, 6]), probs, names)
    assert m["top1"] == pytest.approx(1 / 3)
    assert m["top5"] == pytest.approx(2 / 3)
    assert top_k(probs, 5)[1].tolist() == [0, 3, 4, 5, 6]


def test_zero_denominators_count_as_zero_and_absent_classes_leave_the_macro_average():
    # "fox" never occurs and is never predicted; "dog" is predicted but never occurs.
    labels = np.array([0, 0, 0])
    predicted = np.array([0, 1, 0])
    m = split_metrics(labels, confident(predicted, 3), NAMES)
    assert m["per_class"]["dog"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["per_class"]["fox"]["support"] == 0
    # macro over cat and dog only (the classes seen in labels or predictions)
    assert m["macro_recall"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["macro_precision"] == pytest.approx((1 + 0) / 2)


def test_agrees_with_scikit_learn_on_random_predictions():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 6, size=200)
    probs = rng.dirichlet(np.ones(8), size=200)  # classes 6, 7 never true
    m = split_metrics(labels, probs, [f"c{i}" for i in range(8)])
    predicted = probs.argmax(axis=1)
    p, r, f, _ = sk.precision_recall_fscore_support(
        labels, predicted, average="macro", zero_division=0
    )
    assert (m["macro_precision"], m["macro_recall"], m["macro_f1"]) == pytest.approx((p, r, f))
    assert m["confusion_matrix"] == sk.confusion_matrix(labels, predicted, labels=range(8)).tolist()
    assert m["top5"] == pytest.approx(sk.top_k_accuracy_score(labels, probs, k=5, labels=range(8)))


def test_per_class_scores_from_matrix():
    scores = per_class_scores(np.array([[5, 0], [5, 0]]))
    assert scores["precision"].tolist() == [0.5, 0.0]
    assert scores["recall"].tolist() == [1.0, 0.0]
    assert scores["support"].tolist() == [5, 5]


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="outside the 3 classes"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="expected \\(2, 3\\)"):
        split_metrics(np.array([0, 1]), np.ones((2, 4)) / 4, NAMES)


def test_empty_split_has_no_accuracy():
    assert np.isnan(top_k_accuracy(np.array([], dtype=np.int64), np.zeros((0, 3)), 1))
