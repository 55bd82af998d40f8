"""A recipe's checkpoints (``<workspace>/checkpoints``, a ``tf.train.CheckpointManager``
folder): saving one, the latest step, and resuming from the newest one that can be read.

Storage damages files: a full disk or a failed copy cuts a checkpoint's data file short,
a crash leaves the ``checkpoint`` state file empty or garbled. Every checkpoint
``ckpt-<step>`` in the folder is a candidate, newest first, whatever the state file says;
each is read in full before anything is restored, so a damaged one changes no variable.
A checkpoint that cannot be read is reported (which file, why) and, by the chief, moved
to ``checkpoints/damaged/``, never deleted; so is an unreadable state file. When no
checkpoint is readable, training starts over, with a warning that says so.

:func:`latest_step` reads the state file as text, without TensorFlow, for
``kedro workspaces``; the rest imports TensorFlow when called.
"""

from __future__ import annotations

import logging
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from bit_finetune.core.files import raise_if_out_of_room

if TYPE_CHECKING:
    import tensorflow as tf

logger = logging.getLogger(__name__)

DAMAGED = "damaged"
STATE = "checkpoint"
_STEP = re.compile(r"^ckpt-(\d+)\.index$")
CHECKPOINT_STATE = Path("checkpoints") / STATE
_LATEST = re.compile(r'^model_checkpoint_path: "(?:.*[/\\])?ckpt-(\d+)"$', re.MULTILINE)


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
    import tensorflow as tf

    # How TensorFlow's checkpoint reader reports a cut, garbled or missing file.
    read_errors = (tf.errors.OpError, ValueError, IndexError, RuntimeError, OSError)
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except read_errors as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
    return None


def _check_state_file(folder: Path) -> None:
    """Move an unreadable ``checkpoint`` state file aside (the manager writes a new one)."""
    import tensorflow as tf
    from google.protobuf.text_format import ParseError

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


def latest_step(folder: Path) -> int:
    """The step of the latest checkpoint in a workspace (0 when it has none, or when the
    checkpoint state file is unreadable: resuming then looks at the files themselves, see
    :func:`restore_newest_readable`)."""
    try:
        found = _LATEST.search((folder / CHECKPOINT_STATE).read_text())
    except (OSError, ValueError):  # missing, or not text (a damaged state file)
        return 0
    return int(found[1]) if found else 0


def save_checkpoint(manager: tf.train.CheckpointManager, step: int) -> None:
    """Save the checkpoint of ``step``; running out of room is a
    :class:`~bit_finetune.errors.StorageFullError` naming the folder (the checkpoints
    before it stay, and a resume skips a cut one)."""
    import tensorflow as tf

    try:
        manager.save(checkpoint_number=step)
    except tf.errors.OpError as error:
        # TensorFlow writes a checkpoint's files into `<prefix>_temp` before moving them.
        shutil.rmtree(Path(manager.directory) / f"ckpt-{step}_temp", ignore_errors=True)
        raise_if_out_of_room(manager.directory, error, None)
        raise
