"""The project's expected errors: bad configuration or input that the user can fix.

Their messages say what is wrong and the fix. ``kedro run`` prints them in a few lines,
without a traceback (``BIT_FINETUNE_TRACEBACK=1`` shows it); every other exception is a
bug and keeps its traceback. No Kedro, no TensorFlow: every layer may raise them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

TRACEBACK_VARIABLE = "BIT_FINETUNE_TRACEBACK"


class UserError(Exception):
    """An expected failure the user can fix; the message names it and the fix."""


class ConfigError(UserError, ValueError):
    """A parameter or catalog entry is missing, unknown or invalid; the message starts
    with its key (``training.model.weights: ...``)."""


class StorageFullError(UserError, OSError):
    """A save ran out of room (a full disk, a disk quota, the file size limit); the
    message names the artefact, the space the save needed and the space free."""


class ModelError(UserError, ValueError):
    """The model package cannot build or load what it was asked for. ``subject`` says
    which choice was wrong; the layer that read the parameters names its key
    (:func:`naming_keys`)."""

    subject = "model"


class ArchitectureError(ModelError):
    """An unknown architecture, or one that does not fit the weights."""

    subject = "architecture"


class WeightsError(ModelError):
    """Weights that are missing, unreadable, unpublished or of the wrong shapes."""

    subject = "weights"


class FinetuneError(ModelError):
    """A fine-tuning mode the model cannot follow."""

    subject = "finetune"


class RunLockedError(UserError):
    """Another run is writing the same artefacts."""


class WeightsDownloadError(WeightsError):
    """Published weights could not be downloaded, or did not arrive in time."""


class ClusterStartError(UserError, RuntimeError):
    """A task named in ``TF_CONFIG`` did not join the cluster in time."""


class WorkerLostError(UserError, RuntimeError):
    """Another worker of a multi-worker cluster died or stopped answering."""


class Interrupted(UserError):
    """Training stopped on SIGINT or SIGTERM, at a step boundary, with a checkpoint saved;
    the process exits with the shell's code for the signal (130, 143)."""

    def __init__(self, step: int, signal_number: int) -> None:
        super().__init__(f"Interrupted at step {step}; checkpoint saved; the same command resumes")
        self.exit_code = 128 + signal_number


class TrackingServerError(UserError):
    """The configured tracking server does not answer."""


class IncompleteShardSetError(UserError):
    """The folder holds no complete, consistent shard set."""


class ShardDamagedError(IncompleteShardSetError):
    """Shard files of a split are missing, or differ from the manifest (size, SHA-256,
    a record that cannot be read)."""


def parameter_key(section: str, subject: str) -> str:
    """The key of a training section's setting a :class:`ModelError` is about."""
    return f"{section}.{subject}" if subject == "finetune" else f"{section}.model.{subject}"


@contextmanager
def naming_keys(section: str = "training") -> Iterator[None]:
    """Re-raise a :class:`ModelError` as a :class:`ConfigError` naming the key of
    ``section`` it is about (the same class when it is also one, e.g. a download error)."""
    try:
        yield
    except ModelError as error:
        message = f"{parameter_key(section, error.subject)}: {error}"
        raise ConfigError(message) from error


def expected(error: BaseException) -> UserError | None:
    """The :class:`UserError` behind ``error`` (itself, or a cause or context of it, as
    Kedro wraps a dataset's error), or None for a bug."""
    return next((e for e in chain(error) if isinstance(e, UserError)), None)


def chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, then each error behind it (its cause, else its context)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        yield current
        seen.add(id(current))
        current = current.__cause__ or current.__context__


def wants_traceback() -> bool:
    """Whether the user asked for full tracebacks of expected errors."""
    return os.environ.get(TRACEBACK_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")
