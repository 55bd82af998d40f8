"""The one place that reads or writes a private attribute of a kedro-datasets dataset.

:func:`bit_finetune.datasets.atomic.make_saves_atomic` gives a file dataset a file system
of its own, which kedro-datasets has no public way to do: each of its file datasets (and
this project's, which follow them) keeps its fsspec file system in ``_fs`` and its path in
``_filepath``, and writes through that file system. ``tests/datasets/test_kedro_private.py``
fails when a kedro-datasets release changes this.
"""

from __future__ import annotations

from typing import Any

from fsspec import AbstractFileSystem


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
