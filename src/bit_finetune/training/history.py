"""A run's history as it trains: the losses and hits of the steps since the last row, a
row every ``training.log_every`` steps (mean loss and accuracy, learning rate, images per
second), and where each row goes besides the history: MLflow on the chief
(:mod:`bit_finetune.tracking`), TensorBoard scalars (:mod:`.summaries`) and the progress bar."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import pandas as pd
import tensorflow as tf

from bit_finetune import tracking
from bit_finetune.core.files import atomic_write_text
from bit_finetune.core.progress import progress_bar
from bit_finetune.training import summaries

VALIDATION_COLUMNS = ["val_loss", "val_accuracy"]  # NaN on rows without validation
HISTORY_COLUMNS = [
    "step", "loss", "learning_rate", "accuracy", "images_per_second", *VALIDATION_COLUMNS
]  # fmt: skip
HISTORY = "history.csv"


class History:
    """The rows of ``history`` (restored up to ``start``) and those this run adds, at
    ``global_batch`` images a step; the bar counts steps to ``total_steps`` when
    ``progress``. Throughput counts only the time between rows outside :meth:`paused`."""

    def __init__(
        self,
        history: pd.DataFrame,
        start: int,
        total_steps: int,
        global_batch: int,
        learning_rate: Callable[[int], Any],
        chief: bool,
        progress: bool,
    ) -> None:
        self.rows = history.to_dict("records")
        self.global_batch, self.learning_rate, self.chief = global_batch, learning_rate, chief
        self.window: list[tuple[tf.Tensor, tf.Tensor, int]] = []
        self.postfix: dict[str, str] = {}
        self.bar = progress_bar(
            total=total_steps, initial=start, desc="train", unit="step", disable=not progress
        )
        self.clock = time.perf_counter()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def add(self, loss: tf.Tensor, correct: tf.Tensor, steps: int) -> None:
        """``steps`` more steps done: their summed loss and correct predictions."""
        self.window.append((loss, correct, steps))
        self.bar.update(steps)

    def row(self, done: int) -> dict[str, float]:
        """Mean loss and accuracy over the steps since the last row, the learning rate of
        step ``done`` and the throughput so far (the validation columns empty)."""
        steps = sum(n for _, _, n in self.window)
        images = self.global_batch * steps
        return {
            "step": done,
            "loss": math.fsum(float(loss) for loss, _, _ in self.window) / steps,
            "learning_rate": float(self.learning_rate(done - 1)),
            "accuracy": math.fsum(float(hits) for _, hits, _ in self.window) / images,
            "images_per_second": images / max(time.perf_counter() - self.clock, 1e-9),
            **dict.fromkeys(VALIDATION_COLUMNS, math.nan),
        }

    def append(self, row: dict[str, float]) -> None:
        """Keep ``row``, send it to MLflow, TensorBoard and the bar, and start the next
        row's window and clock."""
        self.rows.append(row)
        if self.chief:
            tracking.log_step(row)
        for name in HISTORY_COLUMNS[1:]:
            if not math.isnan(row[name]):
                summaries.scalar(name, row[name], step=int(row["step"]))
        self.postfix.update(
            loss=f"{row['loss']:.4f}",
            lr=f"{row['learning_rate']:.3g}",
            img_s=f"{row['images_per_second']:.0f}",
        )
        if not math.isnan(row["val_accuracy"]):
            self.postfix["val_acc"] = f"{row['val_accuracy']:.3f}"
        self.bar.set_postfix(self.postfix, refresh=False)  # shown at the next update
        self.window, self.clock = [], time.perf_counter()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside does not count towards the throughput (checkpoint saving)."""
        paused = time.perf_counter()
        try:
            yield
        finally:
            self.clock += time.perf_counter() - paused

    def frame(self) -> pd.DataFrame:
        """Every row so far, in the history's columns."""
        return pd.DataFrame(self.rows, columns=HISTORY_COLUMNS).astype({"step": "int64"})


def write_history(workspace: Path, history: pd.DataFrame) -> None:
    atomic_write_text(workspace / HISTORY, history.to_csv(index=False))


def read_history(workspace: Path, up_to_step: int) -> pd.DataFrame:
    """History rows saved with earlier checkpoints, up to ``up_to_step``, in
    :data:`HISTORY_COLUMNS` (those a history written before them lacks are empty)."""
    path = workspace / HISTORY
    if not path.exists():
        return empty_history()
    history = pd.read_csv(path).reindex(columns=HISTORY_COLUMNS)
    return history[history["step"] <= up_to_step].reset_index(drop=True)


def empty_history() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "step" else "float64") for c in HISTORY_COLUMNS}
    )
