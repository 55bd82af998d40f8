"""What a training workspace holds besides TensorBoard logs: the recipe fingerprint,
checkpoints and the history so far.

Layout of ``<workspace>``::

    recipe.json     the recipe the checkpoints were trained with, and its hash
    checkpoints/    tf.train.CheckpointManager files (model, optimizer, step)
    history.csv     history rows up to the latest checkpoint
    tensorboard/    scalars and the MixUp sample grid
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bit_finetune.config import TrainingParams

HISTORY_COLUMNS = ["step", "loss", "learning_rate", "accuracy", "images_per_second"]
# HyperRule keys that only explain values; changing them does not change training.
EXPLANATIONS = ("reasons", "overrides")


class RecipeChangedError(RuntimeError):
    """The workspace holds checkpoints trained with a different recipe."""


def recipe_record(recipe: Mapping[str, Any], params: TrainingParams) -> dict[str, Any]:
    """Everything that decides what a checkpoint means, with its SHA-256 hash."""
    content = {
        "hyperrule": {k: v for k, v in sorted(recipe.items()) if k not in EXPLANATIONS},
        "model": {"architecture": params.model.architecture, "weights": params.model.weights},
        "finetune": params.finetune,
        "augment": {
            "random_crop": params.augment.random_crop,
            "random_flip": params.augment.random_flip,
        },
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return {"sha256": digest, **content}


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changes += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return changes


def check_recipe(workspace: Path, record: Mapping[str, Any], has_checkpoint: bool) -> None:
    """Refuse to resume checkpoints that were trained with another recipe."""
    path = workspace / "recipe.json"
    if not has_checkpoint or not path.exists():
        return
    saved = json.loads(path.read_text())
    if saved.get("sha256") == record["sha256"]:
        return
    changes = _differences(
        {k: v for k, v in saved.items() if k != "sha256"},
        {k: v for k, v in record.items() if k != "sha256"},
    )
    raise RecipeChangedError(
        f"training_workspace: the checkpoints in '{workspace}' were trained with another "
        f"recipe ({'; '.join(changes) or 'hash differs'}). Delete '{workspace}' to train "
        "from scratch with the new recipe, or restore the previous hyperrule/training "
        "parameters to resume."
    )


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_recipe(workspace: Path, record: Mapping[str, Any]) -> None:
    atomic_write_text(workspace / "recipe.json", json.dumps(record, indent=2, sort_keys=True))


def write_history(workspace: Path, history: pd.DataFrame) -> None:
    atomic_write_text(workspace / "history.csv", history.to_csv(index=False))


def read_history(workspace: Path, up_to_step: int) -> pd.DataFrame:
    """History rows saved with earlier checkpoints, up to ``up_to_step``."""
    path = workspace / "history.csv"
    if not path.exists():
        return empty_history()
    history = pd.read_csv(path)
    return history[history["step"] <= up_to_step].reset_index(drop=True)


def empty_history() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "step" else "float64") for c in HISTORY_COLUMNS}
    )
