"""Training workspaces: one folder per recipe under the ``training_workspace`` root.

A recipe is everything that decides what a checkpoint means (:mod:`.recipe`). Its
folder, ``<architecture>-<first 12 hex digits of the recipe's SHA-256>`` (e.g.
``R14x0.25-3f2a9c1b7e04``), holds::

    recipe.json     the recipe the checkpoints are trained with, and its hash
    checkpoints/    tf.train.CheckpointManager files (:mod:`.checkpoints`)
    history.csv     history rows up to the latest checkpoint (:mod:`.history`)
    precision.json  the precision each training session of the recipe used, from which
                    step, and why (:mod:`bit_finetune.runtime.precision`)
    tensorboard/    scalars and the MixUp sample grid

The same recipe
resumes in its folder; another recipe trains from scratch in a folder of its own, and
the earlier ones are kept. ``training.resume: false`` first moves the recipe's folder
aside to ``<name>.<UTC time>``. Every worker of a cluster names the same folder; only the
chief moves it.

Plain Python (no TensorFlow, no pandas), for ``kedro workspaces list|clean`` too: the
latest checkpoint's step is read from the ``tf.train.CheckpointManager`` state file.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bit_finetune.core.files import human_size, usage
from bit_finetune.training.checkpoints import latest_step
from bit_finetune.training.recipe import RECIPE, differences, workspace_name

logger = logging.getLogger(__name__)



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
