"""Resuming from the newest checkpoint that can be read.

Storage damages files: a full disk or a failed copy cuts a checkpoint's data file short,
a crash leaves the ``checkpoint`` state file empty or garbled. Every checkpoint
``ckpt-<step>`` in the folder is a candidate, newest first, whatever the state file says;
each is read in full before anything is restored, so a damaged one changes no variable.
A checkpoint that cannot be read is reported (which file, why) and, by the chief, moved
to ``checkpoints/damaged/``, never deleted; so is an unreadable state file. When no
checkpoint is readable, training starts over, with a warning that says so.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from pathlib import Path

import tensorflow as tf
from google.protobuf.text_format import ParseError

logger = logging.getLogger(__name__)

DAMAGED = "damaged"
STATE = "checkpoint"
_STEP = re.compile(r"^ckpt-(\d+)\.index$")
# How TensorFlow's checkpoint reader reports a cut, garbled or missing file.
READ_ERRORS = (tf.errors.OpError, ValueError, IndexError, RuntimeError, OSError)


def restore_newest_readable(
    checkpoint: tf.train.Checkpoint, folder: Path, *, chief: bool
) -> str | None:
    """Restore ``checkpoint`` from the newest readable checkpoint in ``folder``; return its
    prefix, or None when there is none (or none readable: then training starts over)."""
    if chief:
        _check_state_file(folder)
    candidates = _candidates(folder)
    for prefix in candidates:
        problem = _unreadable(prefix)
        if problem is None:
            checkpoint.restore(str(prefix)).assert_existing_objects_matched()
            return str(prefix)
        logger.warning("Checkpoint %s cannot be read (%s); trying an older one", prefix, problem)
        if chief:
            _move_aside(folder, [p for p in folder.glob(f"{prefix.name}.*") if p.is_file()])
    if candidates:
        logger.warning(
            "No checkpoint in %s can be read: training starts over from step 0 (the damaged "
            "files are kept in %s)",
            folder,
            folder / DAMAGED,
        )
    return None


def _candidates(folder: Path) -> list[Path]:
    """``<folder>/ckpt-<step>`` of every checkpoint index file, the newest step first."""
    steps = [int(m[1]) for p in folder.glob("ckpt-*.index") if (m := _STEP.match(p.name))]
    return [folder / f"ckpt-{step}" for step in sorted(steps, reverse=True)]


def _unreadable(prefix: Path) -> str | None:
    """Why the checkpoint at ``prefix`` cannot be read in full, or None."""
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except READ_ERRORS as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
    return None


def _check_state_file(folder: Path) -> None:
    """Move an unreadable ``checkpoint`` state file aside (the manager writes a new one)."""
    state = folder / STATE
    if not state.exists():
        if any(folder.glob("ckpt-*.index")):
            logger.warning("%s is missing; resuming from the checkpoint files beside it", state)
        return
    try:
        tf.train.get_checkpoint_state(str(folder))
    except (ParseError, ValueError, tf.errors.OpError) as exc:
        logger.warning("%s cannot be read (%s); resuming from the checkpoint files beside it",
                       state, type(exc).__name__)
        _move_aside(folder, [state])


def _move_aside(folder: Path, files: list[Path]) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    damaged = folder / DAMAGED
    damaged.mkdir(exist_ok=True)
    for path in files:
        path.rename(damaged / f"{path.name}.{stamp}")
