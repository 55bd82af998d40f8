"""The one place that reads or writes a private attribute of a kedro-datasets dataset.

:func:`make_saves_atomic` gives a file dataset a file system of its own (the
:class:`~bit_finetune.core.files.StagedLocalFileSystem` that stages every write), which
kedro-datasets has no public way to do: each of its file datasets (and this project's,
which follow them) keeps its fsspec file system in ``_fs`` and its path in ``_filepath``,
and writes through that file system. ``tests/catalog/test_kedro_private.py``
fails when a kedro-datasets release changes this.
"""

from __future__ import annotations

from typing import Any

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from bit_finetune.core.files import StagedLocalFileSystem


def file_system(dataset: Any) -> AbstractFileSystem | None:
    """The fsspec file system ``dataset`` saves its file through; None when it has none
    (a dataset without a file path, or of another kind)."""
    fs = getattr(dataset, "_fs", None)  # kedro-datasets: private
    if not hasattr(dataset, "_filepath") or not isinstance(fs, AbstractFileSystem):
        return None
    return fs


def replace_file_system(dataset: Any, fs: AbstractFileSystem) -> None:
    """Make ``dataset`` load and save through ``fs`` from now on."""
    dataset._fs = fs  # kedro-datasets: private


def make_saves_atomic(dataset: Any) -> bool:
    """Make every later ``dataset.save`` atomic, file by file; False when the dataset does
    not write through a local fsspec file system and is left as it is.

    Datasets that are atomic already (shard sets, SavedModels) or that write elsewhere
    (object stores: an upload appears whole when it completes) are not touched.
    """
    fs = file_system(dataset)
    if type(fs) is not LocalFileSystem:
        return False
    replace_file_system(dataset, StagedLocalFileSystem(auto_mkdir=fs.auto_mkdir))
    return True
