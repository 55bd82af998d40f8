"""Training workspaces written by hand (a recipe.json and a checkpoint state file), for
tests of listing and picking workspaces that need no training (no TensorFlow)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bit_finetune.config import stage_params
from bit_finetune.hyperrule import HyperRule
from bit_finetune.training.recipe import recipe_record, workspace_name

TRAIN_SPLIT = {
    "count": 96,
    "files": [{"name": "train-00000-of-00001.tfrecord", "count": 96, "sha256": "ab" * 32}],
    "skipped": [],
}


def record(train_split: dict[str, Any] = TRAIN_SPLIT, **values: Any) -> dict[str, Any]:
    """The record of a small recipe; ``values`` override HyperRule values (``batch_size``,
    ``total_steps``...) or, prefixed ``training__``, training parameters."""
    recipe = {"resize_size": 12, "crop_size": 8, "batch_size": 16, "learning_rate": 0.1,
              "warmup_steps": 1, "lr_boundaries": [6, 8, 9], "total_steps": 10,
              "mixup_alpha": 0.0, "num_classes": 2, "reasons": {}, "overrides": {}}  # fmt: skip
    training = {"model": {"architecture": "R14x0.25"}}
    for key, value in values.items():
        if key.startswith("training__"):
            training[key.removeprefix("training__")] = value
        else:
            recipe[key] = value
    return recipe_record(HyperRule.of(recipe), stage_params("training", training), train_split)


def write_workspace(root: Path, record: dict[str, Any], step: int, used: float) -> Path:
    """A recipe's folder under ``root``: its recipe.json last written at ``used`` (seconds
    since the epoch) and, with ``step`` > 0, a checkpoint of that step (100 bytes)."""
    folder = root / workspace_name(record)
    (folder / "checkpoints").mkdir(parents=True)
    if step:
        (folder / "checkpoints/checkpoint").write_text(
            f'model_checkpoint_path: "ckpt-{step}"\nall_model_checkpoint_paths: "ckpt-{step}"\n'
        )
        (folder / f"checkpoints/ckpt-{step}.index").write_bytes(b"x" * 100)
    recipe = folder / "recipe.json"
    recipe.write_text(json.dumps(record, indent=2, sort_keys=True))
    os.utime(recipe, (used, used))
    return folder
