"""Kedro catalog dataset types for image sources and model artefacts.

Classes are imported on first use, so a catalog that only names the digits or an image
folder never pays for importing TensorFlow.
"""

from __future__ import annotations

from bit_finetune.lazy import lazy_exports

_WHERE = {
    "BiTWeightsDataset": "bit_weights",
    "DigitsDataset": "digits",
    "ImageFolderDataset": "image_folder",
    "TFDSDataset": "tfds",
    "TFRecordShardsDataset": "tfrecord_shards",
    "SavedModelDataset": "saved_model",
    "WorkspaceDataset": "workspace",
    "ParquetTableDataset": "parquet_table",
    "TrackedRunsDataset": "tracked_runs",
}

__all__ = [
    "BiTWeightsDataset",
    "DigitsDataset",
    "ImageFolderDataset",
    "ParquetTableDataset",
    "SavedModelDataset",
    "TFDSDataset",
    "TFRecordShardsDataset",
    "TrackedRunsDataset",
    "WorkspaceDataset",
]
__getattr__ = lazy_exports(__name__, _WHERE)
