"""Atomic saves: the one mechanism by which every artefact is written.

A file is written to a hidden sibling ``.<name>.<random>.partial`` and renamed over the
target once complete, when it is closed (its ``with`` block ends) without an error:
:func:`staged_file`, and every file that a kedro-datasets dataset (Parquet, CSV, JSON,
Matplotlib, TensorFlow model...) writes once
:func:`~bit_finetune.catalog.kedro_private.make_saves_atomic` gave it a
:class:`StagedLocalFileSystem`. A folder (:func:`staged_folder`: shard sets,
SavedModels) is written to a hidden sibling folder of the same kind; once complete, the
old folder is renamed aside (``.<name>.<random>.replaced``), the new one into place,
and the old one deleted. A rename within a folder is atomic on POSIX file systems, so
the target holds the previous artefact or the new one, never a mix. A failed save
deletes what it wrote, and the next save of the same target deletes whatever a killed
process left behind.

A save that runs out of room (no space left on the device, a disk quota, the file size
limit) raises :class:`~bit_finetune.errors.StorageFullError` naming the target, what the
save had written when it failed and the space free on that file system.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from fsspec.implementations.local import LocalFileOpener, LocalFileSystem

from bit_finetune.errors import StorageFullError, chain

logger = logging.getLogger(__name__)

PARTIAL, REPLACED = "partial", "replaced"
PARTIAL_SUFFIX = f".{PARTIAL}"
OUT_OF_ROOM = {
    errno.ENOSPC: "free some space on that file system",
    errno.EDQUOT: "free some space within your disk quota",
    errno.EFBIG: "raise the file size limit (ulimit -f)",
}
"""The errors of a save that ran out of room, and their fix."""


class Folders(Protocol):
    """The file system calls a staged folder makes (:class:`LocalFolders` by default)."""

    def listdir(self, path: str) -> list[str]: ...

    def makedirs(self, path: str) -> None: ...

    def exists(self, path: str) -> bool: ...

    def rename(self, source: str, target: str) -> None: ...

    def remove(self, path: str) -> None:
        """Delete a file, or a folder and everything in it."""

    def size(self, path: str) -> int:
        """Bytes of a file, or of every file under a folder."""


class LocalFolders:
    """:class:`Folders` on the local file system."""

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path) if os.path.isdir(path) else []

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def rename(self, source: str, target: str) -> None:
        os.rename(source, target)

    def remove(self, path: str) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)

    def size(self, path: str) -> int:
        return usage(Path(path))[1]


LOCAL = LocalFolders()


def staged_file(path: str | os.PathLike[str], mode: str = "wb", **kwargs: Any) -> Any:
    """``path`` opened for writing (``wb``, or ``w`` for text), atomically: use it in a
    ``with`` block; parent folders are created."""
    return StagedLocalFileSystem(auto_mkdir=True).open(os.fspath(path), mode, **kwargs)


@contextmanager
def staged_folder(path: str, folders: Folders = LOCAL) -> Iterator[str]:
    """A new hidden folder beside ``path`` to write into: when the ``with`` block ends
    without an error it replaces ``path``, else it is deleted."""
    parent, name = _parent_and_name(path)
    sweep(parent, name, folders)
    staging = _sibling(parent, name, PARTIAL)
    try:
        folders.makedirs(staging)
        yield staging
        _swap_in(staging, path, folders)
    except BaseException as error:
        written = 0
        if folders.exists(staging):
            written = folders.size(staging)
            folders.remove(staging)
        raise_if_out_of_room(path, error, written)
        raise


def sweep(parent: str, name: str, folders: Folders = LOCAL) -> None:
    """Delete what saves of ``name`` in ``parent`` that did not finish left behind."""
    leftover = re.compile(rf"\.{re.escape(name)}\.[^./]+\.(?:{PARTIAL}|{REPLACED})")
    for entry in folders.listdir(parent):
        if leftover.fullmatch(entry.rstrip("/")):
            stale = os.path.join(parent, entry.rstrip("/"))
            logger.info("Removing %s, left by a save that did not finish", stale)
            folders.remove(stale)


def raise_if_out_of_room(target: str, error: BaseException, written: int | None) -> None:
    """Raise :class:`StorageFullError` from ``error`` when it (or an error behind it)
    says the save of ``target`` ran out of room after writing ``written`` bytes (None:
    not known)."""
    code = _out_of_room(error)
    if code is None:
        return
    needed = (
        "more room" if written is None
        else f"more than the {human_size(written)} it had written when it failed"
    )
    free = _free_bytes(target)
    raise StorageFullError(
        f"{target}: not saved ({os.strerror(code)}): the save needs {needed}"
        f"{'' if free is None else f', and {human_size(free)} is free on that file system'}"
        f"; the previous version is kept. To save it, {OUT_OF_ROOM[code]} and run again"
    ) from error


def _out_of_room(error: BaseException) -> int | None:
    """The errno of running out of room behind ``error``: an ``OSError``'s own, or the
    system's message for it in the text (TensorFlow's file errors end with it); None
    when there is none, or when a :class:`StorageFullError` already says so."""
    errors = list(chain(error))
    if any(isinstance(e, StorageFullError) for e in errors):
        return None
    for current in errors:
        if isinstance(current, OSError) and current.errno in OUT_OF_ROOM:
            return current.errno
        for code in OUT_OF_ROOM:
            if os.strerror(code) in str(current):
                return code
    return None


def _free_bytes(target: str) -> int | None:
    """Space free to this user on the file system of local path ``target``."""
    if "://" in target:
        return None
    folder = os.path.abspath(target)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _parent_and_name(path: str) -> tuple[str, str]:
    parent, name = os.path.split(os.fspath(path).rstrip("/"))
    return parent or ".", name


def _sibling(parent: str, name: str, kind: str) -> str:
    """A new hidden path ``.<name>.<random>.<kind>`` in ``parent``."""
    return os.path.join(parent, f".{name}.{uuid.uuid4().hex[:12]}.{kind}")


def _swap_in(staging: str, path: str, folders: Folders) -> None:
    """Move the finished ``staging`` folder to ``path``. An old folder there is renamed
    aside first and deleted only after the new one is in place; if moving the new one
    fails, the old one is put back."""
    if not folders.exists(path):
        folders.rename(staging, path)
        return
    retired = _sibling(*_parent_and_name(path), REPLACED)
    folders.rename(path, retired)
    try:
        folders.rename(staging, path)
    except BaseException:
        folders.rename(retired, path)
        raise
    folders.remove(retired)


class StagedLocalFileSystem(LocalFileSystem):
    """The local file system, except that a file opened for writing is written to a
    hidden sibling, renamed into place when it is closed (or its ``with`` block ends)
    without an error, and deleted when its ``with`` block fails or it is dropped unclosed."""

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "w" not in mode or "b" in mode:
            return super().open(path, mode, **kwargs)
        text = {key: kwargs.pop(key) for key in ("encoding", "errors", "newline") if key in kwargs}
        return _StagedText(self.open(path, mode.replace("t", "") + "b", **kwargs), **text)

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, **kwargs: Any) -> Any:
        if "w" not in mode:
            return super()._open(path, mode, block_size, **kwargs)
        path = self._strip_protocol(path)
        if self.auto_mkdir:
            self.makedirs(self._parent(path), exist_ok=True)
        kwargs.pop("autocommit", None)
        return _StagedFile(path, mode, autocommit=False, fs=self, **kwargs)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy through :meth:`open`, so that a copy into place (``put``) is staged too."""
        if self.isdir(path1):
            return super().cp_file(path1, path2, **kwargs)
        with open(self._strip_protocol(path1), "rb") as source, self.open(path2, "wb") as target:
            shutil.copyfileobj(source, target)
        return None


class _StagedFile(LocalFileOpener):
    """A file written to ``.<name>.<random>.partial`` beside ``path``: renamed over
    ``path`` when closed, deleted instead after an error in its ``with`` block."""

    _finished = False
    _failed = False
    written = 0
    """Bytes that reached the partial file, once it is deleted after an error."""

    def _open(self) -> None:
        if self.f is not None and not self.f.closed:
            return
        folder, name = _parent_and_name(self.path)
        sweep(folder, name)
        try:
            handle, self.temp = tempfile.mkstemp(
                prefix=f".{name}.", suffix=PARTIAL_SUFFIX, dir=folder
            )
        except OSError as exc:  # name the artefact, not the temporary file
            raise_if_out_of_room(self.path, exc, 0)
            raise type(exc)(exc.errno, exc.strerror, self.path) from exc
        self.f = os.fdopen(handle, self.mode)

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        self._failed = exc is not None
        self.close()
        if exc is not None:
            raise_if_out_of_room(self.path, exc, self.written)

    def close(self) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            self.f.close()  # the last bytes may still fail to reach the disk
        except BaseException as error:
            self._discard()
            raise_if_out_of_room(self.path, error, self.written)
            raise
        if self._failed:
            self._discard()
        else:
            super().commit()

    def _discard(self) -> None:
        self._failed = True
        self.written = os.path.getsize(self.temp)
        os.remove(self.temp)

    def __del__(self) -> None:
        if not self._finished:  # dropped without close: an error left it half-written
            self._failed = True
            self.close()


class _StagedText(io.TextIOWrapper):
    """Text written to a :class:`_StagedFile`: deleted, not renamed into place, after an
    error in its ``with`` block or in writing out its last text."""

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        self.buffer._failed = exc is not None
        self.close()
        if exc is not None:
            raise_if_out_of_room(self.buffer.path, exc, self.buffer.written)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
        except BaseException as error:
            self.buffer._failed = True
            super().close()
            raise_if_out_of_room(self.buffer.path, error, self.buffer.written)
            raise
        super().close()

    def __del__(self) -> None:
        if not self.closed:  # dropped without close: an error left it half-written
            self.buffer._failed = True
            self.close()


HASH_BLOCK = 1 << 20  # bytes read at a time while hashing a file


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`staged_file`)."""
    with staged_file(path, "w", encoding="utf-8") as f:
        f.write(text)


def file_sha256(path: str | os.PathLike[str], opener: Callable[..., Any] = open) -> str:
    """The SHA-256 of a file's bytes, read through ``opener`` (``open``; or
    ``tf.io.gfile.GFile`` for the file systems TensorFlow reads)."""
    digest = hashlib.sha256()
    with opener(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def content_hash(value: Any) -> str:
    """The SHA-256 of a JSON value, keys sorted: the same content, the same hash."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def usage(path: Path) -> tuple[int, int]:
    """Files under ``path`` (``path`` itself when a file) and their bytes; files removed
    meanwhile (old checkpoints of a running training) are left out."""
    count = size = 0
    for entry in path.rglob("*") if path.is_dir() else [path]:
        try:
            info = entry.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(info.st_mode):
            count, size = count + 1, size + info.st_size
    return count, size


def human_size(size: float) -> str:
    """``12.3 MB``: bytes in decimal units."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
