"""Training workspaces: one folder per recipe under the ``training_workspace`` root.

A recipe is everything that decides what a checkpoint means (:func:`recipe_record`). Its
folder, ``<architecture>-<first 12 hex digits of the recipe's SHA-256>`` (e.g.
``R14x0.25-3f2a9c1b7e04``), holds what :mod:`.checkpoints` describes. The same recipe
resumes in its folder; another recipe trains from scratch in a folder of its own, and
the earlier ones are kept. ``training.resume: false`` first moves the recipe's folder
aside to ``<name>.<UTC time>``. Every worker of a cluster names the same folder; only the
chief moves it.

Plain Python (no TensorFlow, no pandas), for ``kedro workspaces list|clean`` too: the
latest checkpoint's step is read from the ``tf.train.CheckpointManager`` state file.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import shutil
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bit_finetune.config import TrainingParams
from bit_finetune.core.files import content_hash, human_size, usage

logger = logging.getLogger(__name__)

RECIPE = "recipe.json"
CHECKPOINT_STATE = Path("checkpoints") / "checkpoint"
# HyperRule keys that only explain values; changing them does not change training.
EXPLANATIONS = ("reasons", "overrides")
NAME_DIGITS = 12
SHOWN_CHANGE = 120  # characters; a longer change (a list of shard files) is only named
_LATEST = re.compile(r'^model_checkpoint_path: "(?:.*[/\\])?ckpt-(\d+)"$', re.MULTILINE)


def recipe_record(
    recipe: Mapping[str, Any], params: TrainingParams, train_split: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Everything that decides what a checkpoint means, with its SHA-256 hash: the
    HyperRule values, the model and its starting weights, what is fine-tuned, the
    augmentation, the seed and the train split's shard manifest entry (``train_split``:
    file names, counts and checksums). Strategy, precision, micro-batches and XLA stay
    out: a checkpoint may be resumed on other hardware."""
    model = params.model
    content = {
        "hyperrule": {k: v for k, v in sorted(recipe.items()) if k not in EXPLANATIONS},
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


def latest_step(folder: Path) -> int:
    """The step of the latest checkpoint in a workspace (0 when it has none, or when the
    checkpoint state file is unreadable: resuming then looks at the files themselves, see
    :mod:`.resume`)."""
    try:
        found = _LATEST.search((folder / CHECKPOINT_STATE).read_text())
    except (OSError, ValueError):  # missing, or not text (a damaged state file)
        return 0
    return int(found[1]) if found else 0


@dataclass(frozen=True)
class Workspace:
    """A recipe's folder: its record, the step of its latest checkpoint, when a training
    last started in it (``recipe.json``'s time) and what it holds on disk."""

    path: Path
    record: dict[str, Any]
    step: int
    last_used: float
    files: int
    bytes: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def total_steps(self) -> int:
        return int(self.record["hyperrule"]["total_steps"])


def _read(folder: Path) -> Workspace:
    recipe = folder / RECIPE
    record, used = json.loads(recipe.read_text()), recipe.stat().st_mtime
    return Workspace(folder, record, latest_step(folder), used, *usage(folder))


def is_workspace(path: Path) -> bool:
    """Whether ``path`` is a recipe's folder (one moved aside included)."""
    return (path / RECIPE).is_file()


def workspaces(root: Path) -> list[Workspace]:
    """Every recipe folder under ``root``, those moved aside included, the most recently
    used first."""
    found = [_read(p) for p in root.iterdir() if is_workspace(p)] if root.is_dir() else []
    return sorted(found, key=lambda w: w.last_used, reverse=True)


def recipe_workspace(root: Path, record: Mapping[str, Any], *, resume: bool, chief: bool) -> Path:
    """The recipe's own folder under ``root``. On the chief, ``resume`` false first moves
    an existing one aside (kept); a recipe without checkpoints yet logs what changed
    since the most recently used other workspace."""
    folder = root / workspace_name(record)
    if not chief:
        return folder
    if not resume and folder.exists():
        aside = move_aside(folder)
        logger.info(
            "training.resume is false: training from scratch in %s (the earlier one is kept as %s)",
            folder,
            aside.name,
        )
    elif latest_step(folder) == 0:
        _explain_new(folder, record)
    return folder


def _explain_new(folder: Path, record: Mapping[str, Any]) -> None:
    earlier = [w for w in workspaces(folder.parent) if w.path != folder]
    if not earlier:
        return
    previous = earlier[0]
    changes = differences(_without_hash(previous.record), _without_hash(record))
    if changes:
        logger.info(
            "New recipe: training from scratch in %s (changed since %s: %s); the earlier "
            "workspace is kept",
            folder,
            previous.name,
            "; ".join(changes),
        )


def _without_hash(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "sha256"}


def move_aside(folder: Path) -> Path:
    """Rename ``folder`` to ``<name>.<UTC time YYYYmmddTHHMMSS>`` beside it (``-2``,
    ``-3``... appended when taken); return the new path."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    target = folder.with_name(f"{folder.name}.{stamp}")
    for n in itertools.count(2):
        if not target.exists():
            break
        target = folder.with_name(f"{folder.name}.{stamp}-{n}")
    folder.rename(target)
    return target


def remove(doomed: Sequence[Workspace]) -> int:
    """Delete the workspaces' folders; return the bytes freed."""
    for workspace in doomed:
        shutil.rmtree(workspace.path)
    return sum(w.bytes for w in doomed)


LISTING = (
    "", "workspace", "step", "last used", "size", "architecture", "weights", "batch",
    "train images",
)  # fmt: skip


def listing(found: Sequence[Workspace]) -> str:
    """A text table of ``found`` (most recently used first, marked ``*``)."""
    rows = [LISTING] + [_row(w, current=i == 0) for i, w in enumerate(found)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(LISTING))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def _row(workspace: Workspace, current: bool) -> tuple[str, ...]:
    record, data = workspace.record, workspace.record.get("data") or {}
    return (
        "*" if current else "",
        workspace.name,
        f"{workspace.step}/{workspace.total_steps}",
        time.strftime("%Y-%m-%d %H:%M", time.localtime(workspace.last_used)),
        human_size(workspace.bytes),
        str(record["model"]["architecture"]),
        str(record["model"]["weights"]),
        str(record["hyperrule"]["batch_size"]),
        str(data.get("count", "-")),
    )
