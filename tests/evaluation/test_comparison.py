"""Runs side by side: the transfer report (the gain and both recipes) and the comparison
of the runs tracked in a real MLflow store (a table and a figure)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tracked_store import COMPARED, RUNS, write_store

from bit_finetune.catalog.tracked_runs import TrackedRunsDataset
from bit_finetune.evaluation.comparison import (
    COMPARISON_COLUMNS,
    NO_RUNS,
    Run,
    comparison_figure,
    comparison_table,
    render,
)
from bit_finetune.evaluation.metrics import split_metrics
from bit_finetune.hyperrule import derive
from tests.evaluation.test_report import markdown_tables

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


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, list[str]]:
    """The tracked runs of a real store, as the catalog loads them, and their ids."""
    uri, ids = write_store(tmp_path_factory.mktemp("tracked"))
    return TrackedRunsDataset(uri).load(), ids


def test_evaluated_runs_compare_by_dataset_best_first(tracked):
    runs, ids = tracked
    table = comparison_table(runs)
    assert tuple(table.columns) == COMPARISON_COLUMNS
    # the killed and the failed run have no test scores: not compared
    assert list(table["run_id"]) == [ids[i] for i in COMPARED]
    assert list(table["dataset"]) == ["digits", "digits", "myimages"]
    assert list(table["test_top1"]) == [0.97, 0.91, 0.8]
    assert list(table["test_top5"]) == [1.0, 0.99, 0.95]
    assert list(table["minutes"]) == [12.5, 6.0, 30.0]  # wall time, end - start
    assert list(table["steps"]) == [1000, 500, 500]
    assert all(isinstance(steps, (int, np.integer)) for steps in table["steps"])
    assert list(table["batch_size"]) == [64, 64, 64]
    assert list(table["resolution"]) == [128, 128, 384]  # the crop size
    first = table.iloc[0]
    assert (first["run"], first["architecture"], first["weights"], first["status"]) == (
        RUNS[2].name,
        "R50x1",
        "BiT-M-R50x1",
        "FINISHED",
    )
    assert first["resumed_from"] == ids[1]  # the killed run it carried on
    assert pd.isna(table.iloc[1]["resumed_from"])
    assert list(table["started"]) == [
        "2025-03-01T10:30:15+00:00",
        "2025-03-01T10:00:00+00:00",
        "2025-03-01T10:52:45+00:00",
    ]


def test_a_table_read_back_from_csv_plots_one_bar_per_run(tracked, tmp_path):
    table = comparison_table(tracked[0])
    table.to_csv(tmp_path / "run_comparison.csv", index=False)
    fig = comparison_figure(pd.read_csv(tmp_path / "run_comparison.csv"))
    top1, minutes = fig.axes
    assert len(top1.patches) == len(minutes.patches) == len(table) == 3
    widths = sorted(round(bar.get_width(), 6) for bar in top1.patches)
    assert widths == [80.0, 91.0, 97.0]
    labels = [label.get_text() for label in top1.get_yticklabels()]
    assert sorted(labels) == sorted(table["run"])
    texts = {text.get_text() for text in minutes.texts}
    assert {"12.5 min", "6.0 min", "30.0 min"} <= texts
    colours = {bar.get_facecolor() for bar in top1.patches}
    assert len(colours) == 2  # one per dataset
    fig.savefig(tmp_path / "plot.png")


def test_runs_of_the_same_name_are_told_apart_by_their_id(tracked):
    table = comparison_table(tracked[0])
    table["run"] = "same"
    labels = [label.get_text() for label in comparison_figure(table).axes[0].get_yticklabels()]
    assert sorted(labels) == sorted(f"same [{run_id[:8]}]" for run_id in table["run_id"])


def test_no_evaluated_runs_is_an_empty_table_and_a_figure_that_says_so(tracked, tmp_path):
    runs = tracked[0]
    for empty in (
        runs.iloc[:0],
        runs[runs["metrics.test.top1"].isna()],
        runs.drop(columns=[c for c in runs.columns if c.startswith("metrics.")]),
    ):
        table = comparison_table(empty)
        assert table.empty
        assert tuple(table.columns) == COMPARISON_COLUMNS
    fig = comparison_figure(table)
    assert any(NO_RUNS in text.get_text() for ax in fig.axes for text in ax.texts)
    fig.savefig(tmp_path / "empty.png")
