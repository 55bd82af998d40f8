"""Kedro catalog dataset types for image sources and model artefacts.

None of them imports TensorFlow before it loads or saves (see :mod:`bit_finetune.startup`),
so a catalog that only names the digits or an image folder never pays for it.
"""

from __future__ import annotations

from bit_finetune.catalog.bit_weights import BiTWeightsDataset
from bit_finetune.catalog.digits import DigitsDataset
from bit_finetune.catalog.image_folder import ImageFolderDataset
from bit_finetune.catalog.keras_model import KerasModelDataset
from bit_finetune.catalog.parquet_table import ParquetTableDataset
from bit_finetune.catalog.saved_model import SavedModelDataset
from bit_finetune.catalog.tfds import TFDSDataset
from bit_finetune.catalog.tfrecord_shards import TFRecordShardsDataset
from bit_finetune.catalog.tracked_runs import TrackedRunsDataset
from bit_finetune.catalog.training_workspace import WorkspaceDataset

__all__ = [
    "BiTWeightsDataset",
    "DigitsDataset",
    "ImageFolderDataset",
    "KerasModelDataset",
    "ParquetTableDataset",
    "SavedModelDataset",
    "TFDSDataset",
    "TFRecordShardsDataset",
    "TrackedRunsDataset",
    "WorkspaceDataset",
]
