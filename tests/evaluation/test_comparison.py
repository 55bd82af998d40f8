"""The transfer report: runs side by side, the gain, and both recipes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pipelines.evaluation.test_report import markdown_tables

from bit_finetune.evaluation.comparison import Run, render
from bit_finetune.evaluation.metrics import split_metrics
from bit_finetune.hyperrule import derive

NAMES = ["5", "6", "7"]


def metrics(correct: int, total: int = 10) -> dict:
    """Test metrics of a model right on ``correct`` of ``total`` examples."""
    labels = np.arange(total) % len(NAMES)
    predicted = np.where(np.arange(total) < correct, labels, (labels + 1) % len(NAMES))
    probabilities = np.eye(len(NAMES), dtype=np.float32)[predicted]
    return {"model": {"architecture": "R14x0.25", "name": "bit_R14x0_25"},
            "test": split_metrics(labels, probabilities, NAMES)}  # fmt: skip


def history(steps: int = 500) -> pd.DataFrame:
    return pd.DataFrame({"step": [steps // 2, steps], "loss": [0.5, 0.0123],
                         "learning_rate": [0.003, 3e-6], "accuracy": [0.9, 1.0],
                         "images_per_second": [100.0, 100.0]})  # fmt: skip


def recipe(examples: int, **overrides) -> dict:
    return derive(train_examples=examples, median_area=64.0, num_classes=len(NAMES),
                  batch_size=32, batch_policy="official", overrides=overrides)  # fmt: skip


def test_runs_side_by_side_with_the_gain_and_both_recipes():
    runs = [Run("transfer", "upstream backbone", metrics(9), history()),
            Run("random init", "random", metrics(4), history())]  # fmt: skip
    upstream = Run("upstream", "random init", metrics(10), history())
    text = render(runs, recipe(15, resize_size=192), upstream, recipe(700, learning_rate=0.1))
    tables = markdown_tables(text)
    rows = {row["run"]: row for row in tables["Comparison"]}
    assert rows["**transfer**"]["test top-1"] == "**90.0%**"
    assert rows["**random init**"]["test top-1"] == "**40.0%**"
    assert rows["**random init**"]["initial weights"] == "random"
    assert rows["**transfer**"]["steps"] == "500"
    assert rows["**transfer**"]["final train loss"] == "0.0123"
    assert "transfer vs random init: **+50.0 points** of test top-1." in text
    assert "5 classes" not in text and "3 classes (5, 6, 7), 15 training images, 10 test" in text
    downstream = {row["setting"]: row for row in tables["Downstream HyperRule"]}
    assert downstream["learning_rate"]["overridden"] == "no"
    assert downstream["resize_size"]["overridden"] == "yes (rule: 160)"
    assert downstream["resize_size"]["value"] == "192"
    pretraining = {row["setting"]: row for row in tables["Upstream pretraining"]}
    assert pretraining["learning_rate"]["value"] == "0.1"
    assert "R14x0.25 trained from random init on 3 classes" in text
    assert "test top-1 100.0%" in text


def test_a_run_without_test_scores_reads_n_a():
    empty = {"model": {"name": "m"}}
    runs = [Run("transfer", "upstream backbone", empty, history().iloc[:0]),
            Run("random init", "random", metrics(4), history())]  # fmt: skip
    text = render(runs, recipe(15), Run("upstream", "random init", empty, history()), recipe(700))
    row = markdown_tables(text)["Comparison"][0]
    assert (row["test top-1"], row["steps"], row["final train loss"]) == ("**n/a**", "n/a", "n/a")
    assert "points" not in text and "no test images" in text
