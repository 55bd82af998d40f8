"""What a recipe's training workspace holds besides TensorBoard logs: the recipe record,
checkpoints and the history so far (:mod:`.workspaces` names and picks the folder).

Layout of ``<training_workspace>/<architecture>-<recipe hash>``::

    recipe.json     the recipe the checkpoints are trained with, and its hash
    checkpoints/    tf.train.CheckpointManager files (model, optimizer, step)
    history.csv     history rows up to the latest checkpoint
    precision.json  the precision each training session of the recipe used, from which
                    step, and why (with what was timed, for mixed_precision: auto)
    tensorboard/    scalars and the MixUp sample grid
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bit_finetune.core.files import atomic_write_text
from bit_finetune.training.workspaces import RECIPE

PRECISION = "precision.json"
VALIDATION_COLUMNS = ["val_loss", "val_accuracy"]  # NaN on rows without validation
HISTORY_COLUMNS = [
    "step", "loss", "learning_rate", "accuracy", "images_per_second", *VALIDATION_COLUMNS
]  # fmt: skip


def write_recipe(workspace: Path, record: Mapping[str, Any]) -> None:
    atomic_write_text(workspace / RECIPE, json.dumps(record, indent=2, sort_keys=True))


def read_precision(workspace: Path) -> list[dict[str, Any]]:
    """The precision records of the recipe's training sessions, oldest first (none when
    the file is missing or unreadable)."""
    try:
        records = json.loads((workspace / PRECISION).read_text())
    except (OSError, ValueError):
        return []
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def add_precision(workspace: Path, record: Mapping[str, Any]) -> None:
    """Append a training session's precision ``record`` to ``precision.json``."""
    records = [*read_precision(workspace), dict(record)]
    atomic_write_text(workspace / PRECISION, json.dumps(records, indent=2))


def write_history(workspace: Path, history: pd.DataFrame) -> None:
    atomic_write_text(workspace / "history.csv", history.to_csv(index=False))


def read_history(workspace: Path, up_to_step: int) -> pd.DataFrame:
    """History rows saved with earlier checkpoints, up to ``up_to_step``, in
    :data:`HISTORY_COLUMNS` (those a history written before them lacks are empty)."""
    path = workspace / "history.csv"
    if not path.exists():
        return empty_history()
    history = pd.read_csv(path).reindex(columns=HISTORY_COLUMNS)
    return history[history["step"] <= up_to_step].reset_index(drop=True)


def empty_history() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "step" else "float64") for c in HISTORY_COLUMNS}
    )
