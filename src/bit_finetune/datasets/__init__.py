"""Kedro catalog dataset types for image sources and model artefacts.

None of them imports TensorFlow before it loads or saves (see :mod:`bit_finetune.startup`),
so a catalog that only names the digits or an image folder never pays for it.
"""

from __future__ import annotations

from bit_finetune.datasets.bit_weights import BiTWeightsDataset
from bit_finetune.datasets.digits import DigitsDataset
from bit_finetune.datasets.image_folder import ImageFolderDataset
from bit_finetune.datasets.keras_model import KerasModelDataset
from bit_finetune.datasets.parquet_table import ParquetTableDataset
from bit_finetune.datasets.saved_model import SavedModelDataset
from bit_finetune.datasets.tfds import TFDSDataset
from bit_finetune.datasets.tfrecord_shards import TFRecordShardsDataset
from bit_finetune.datasets.tracked_runs import TrackedRunsDataset
from bit_finetune.datasets.workspace import WorkspaceDataset

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
