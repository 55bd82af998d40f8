"""Atomic saves for the file datasets of kedro-datasets on the local file system.

kedro-datasets (Parquet, CSV, JSON, Matplotlib, TensorFlow model...) write straight into
the target file, so a run killed mid-save, or a disk that fills up, leaves a truncated
file where the finished artefact was: a later stage fails on it, and a truncated CSV
even loads as a shorter table. :func:`make_saves_atomic` gives such a dataset a private
file system on which each file a save writes goes to a hidden sibling
(``.<name>.<random>.partial``) and is renamed over the target once complete, when it is
closed (its ``with`` block ends) without an error. A rename within a folder is atomic on
POSIX file systems, so the target holds the previous artefact or the new one, never a
mix. A failed save deletes its partial file, and the next save of the same file deletes
any that a killed process left behind.
"""

from __future__ import annotations

import glob
import io
import logging
import os
import shutil
import tempfile
from typing import Any

from fsspec.implementations.local import LocalFileOpener, LocalFileSystem

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"


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

    def _open(self) -> None:
        if self.f is not None and not self.f.closed:
            return
        folder, name = os.path.split(self.path)
        for stale in glob.glob(os.path.join(glob.escape(folder or "."),
                                            f".{glob.escape(name)}.*{PARTIAL_SUFFIX}")):
            logger.info("Removing %s, left by a save that did not finish", stale)
            os.remove(stale)
        try:
            handle, self.temp = tempfile.mkstemp(
                prefix=f".{name}.", suffix=PARTIAL_SUFFIX, dir=folder or "."
            )
        except OSError as exc:  # name the artefact, not the temporary file
            raise type(exc)(exc.errno, exc.strerror, self.path) from exc
        self.f = os.fdopen(handle, self.mode)

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        self._failed = exc_type is not None
        self.close()

    def close(self) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            self.f.close()  # the last bytes may still fail to reach the disk
        except BaseException:
            self._failed = True
            raise
        finally:
            if self._failed:
                os.remove(self.temp)
        if not self._failed:
            super().commit()

    def __del__(self) -> None:
        if not self._finished:  # dropped without close: an error left it half-written
            self._failed = True
            self.close()


class _StagedText(io.TextIOWrapper):
    """Text written to a :class:`_StagedFile`; an error in its ``with`` block deletes it."""

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        self.buffer._failed = exc_type is not None
        super().__exit__(exc_type, exc, traceback)


def make_saves_atomic(dataset: Any) -> bool:
    """Make every later ``dataset.save`` atomic, file by file; False when the dataset does
    not write through a local fsspec file system (``_fs``) and is left as it is.

    Datasets that are atomic already (shard sets, SavedModels) or that write elsewhere
    (object stores: an upload appears whole when it completes) are not touched.
    """
    fs = getattr(dataset, "_fs", None)
    if type(fs) is not LocalFileSystem or not hasattr(dataset, "_filepath"):
        return False
    dataset._fs = StagedLocalFileSystem(auto_mkdir=fs.auto_mkdir)
    return True
