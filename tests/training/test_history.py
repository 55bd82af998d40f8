"""A run's history rows: window means, throughput, pauses, the frame."""

from __future__ import annotations

import math
import time

import pandas as pd
import tensorflow as tf

from bit_finetune.training.history import HISTORY_COLUMNS, History, empty_history


def history(rows: pd.DataFrame | None = None) -> History:
    rows = empty_history() if rows is None else rows
    return History(rows, 0, 10, global_batch=4, learning_rate=lambda step: 0.1 * (step + 1),
                   chief=True, progress=False)  # fmt: skip


def test_a_row_holds_the_window_means_and_the_learning_rate_of_its_last_step():
    with history() as log:
        log.add(tf.constant(3.0), tf.constant(5.0), 2)  # sums over 2 steps of 4 images
        log.add(tf.constant(1.0), tf.constant(3.0), 1)
        row = log.row(3)
    assert row["step"] == 3
    assert math.isclose(row["loss"], 4.0 / 3)
    assert math.isclose(row["accuracy"], 8.0 / 12)
    assert math.isclose(row["learning_rate"], 0.3)
    assert row["images_per_second"] > 0
    assert math.isnan(row["val_loss"]) and math.isnan(row["val_accuracy"])


def test_appended_rows_extend_the_restored_history_and_restart_the_window():
    restored = pd.DataFrame([{"step": 2, "loss": 1.0, "learning_rate": 0.1, "accuracy": 0.5,
                              "images_per_second": 10.0, "val_loss": math.nan,
                              "val_accuracy": math.nan}])  # fmt: skip
    with history(restored) as log:
        log.add(tf.constant(2.0), tf.constant(4.0), 2)
        log.append({**log.row(4), "val_loss": 0.5, "val_accuracy": 0.75})
        assert log.window == []
        frame = log.frame()
    assert list(frame.columns) == HISTORY_COLUMNS
    assert frame["step"].tolist() == [2, 4] and frame["step"].dtype == "int64"
    assert frame["val_accuracy"].iloc[-1] == 0.75
    assert log.postfix["val_acc"] == "0.750"


def test_paused_time_does_not_count_towards_throughput():
    with history() as log:
        log.add(tf.constant(1.0), tf.constant(1.0), 1)
        start = log.clock
        with log.paused():
            time.sleep(0.05)
        assert log.clock - start >= 0.05
