"""Kedro catalog dataset types for image sources and model artefacts.

Classes are imported on first use, so a catalog that only names the digits or an image
folder never pays for importing TensorFlow.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "DigitsDataset": "digits",
    "ImageFolderDataset": "image_folder",
    "TFDSDataset": "tfds",
    "TFRecordShardsDataset": "tfrecord_shards",
    "SavedModelDataset": "saved_model",
    "WorkspaceDataset": "workspace",
    "ParquetTableDataset": "parquet_table",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
