"""The recipe of a training: everything that decides what a checkpoint means, its hash
(which names the recipe's workspace, :mod:`.workspaces`) and what changed between two
recipes. Plain Python."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bit_finetune.config import TrainingParams
from bit_finetune.core.files import atomic_write_text, content_hash
from bit_finetune.hyperrule import HyperRule

RECIPE = "recipe.json"
# HyperRule keys that only explain values; changing them does not change training.
EXPLANATIONS = ("reasons", "overrides")
NAME_DIGITS = 12
SHOWN_CHANGE = 120  # characters; a longer change (a list of shard files) is only named


def recipe_record(
    recipe: HyperRule, params: TrainingParams, train_split: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Everything that decides what a checkpoint means, with its SHA-256 hash: the
    HyperRule values, the model and its starting weights, what is fine-tuned, the
    augmentation, the seed and the train split's shard manifest entry (``train_split``:
    file names, counts and checksums). Strategy, precision, micro-batches and XLA stay
    out: a checkpoint may be resumed on other hardware."""
    model = params.model
    content = {
        "hyperrule": {k: v for k, v in sorted(recipe.record.items()) if k not in EXPLANATIONS},
        "model": {
            "architecture": model.architecture,
            "weights": model.weights,
            **_weights_content(model.weights),
        },
        "finetune": params.finetune,
        "augment": {
            "random_crop": params.augment.random_crop,
            "random_flip": params.augment.random_flip,
        },
        "seed": params.seed,
        "data": None if train_split is None else dict(train_split),
    }
    return {"sha256": content_hash(content), **content}


def _weights_content(weights: str) -> dict[str, str]:
    """``weights_sha256`` of a local ``.npz`` weights file: the SHA-256 of its arrays in
    name order, so that the same path with other weights (an upstream backbone trained
    anew) is another recipe, and the same arrays written again are not."""
    if not (os.path.isfile(weights) and zipfile.is_zipfile(weights)):
        return {}
    digest = hashlib.sha256()
    with zipfile.ZipFile(weights) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode())
            with archive.open(name) as member:
                while chunk := member.read(1 << 20):
                    digest.update(chunk)
    return {"weights_sha256": digest.hexdigest()}


def differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``key: old -> new`` for each changed leaf (nested keys dotted); a long change is
    named without its values."""
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changes += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            change = f"{a!r} -> {b!r}"
            short = len(change) <= SHOWN_CHANGE
            changes.append(f"{prefix}{key}: {change}" if short else f"{prefix}{key} changed")
    return changes


def workspace_name(record: Mapping[str, Any]) -> str:
    """``<architecture>-<first 12 hex digits of the recipe hash>``."""
    return f"{record['model']['architecture']}-{record['sha256'][:NAME_DIGITS]}"


def write_recipe(workspace: Path, record: Mapping[str, Any]) -> None:
    atomic_write_text(workspace / RECIPE, json.dumps(record, indent=2, sort_keys=True))
