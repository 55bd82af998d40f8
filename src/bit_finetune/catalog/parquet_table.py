"""A Parquet table whose kedro-viz preview shows every column, list and nullable ones too."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from kedro_datasets.pandas import ParquetDataset

from bit_finetune.catalog.previews import TablePreview


class ParquetTableDataset(ParquetDataset):
    """``pandas.ParquetDataset`` (same arguments, same load and save) with a preview that
    kedro-viz can always send: list cells become lists, missing values ``null`` and numpy
    scalars plain numbers. The stock preview fails on a list column (e.g. ``top_labels``)
    or a missing value in a nullable integer column.

    Example catalog entry::

        predictions:
          type: bit_finetune.catalog.ParquetTableDataset
          filepath: data/07_model_output/predictions.parquet
    """

    def preview(self, nrows: int = 5) -> TablePreview:
        """The first ``nrows`` rows in pandas' ``split`` layout (index, columns, data)."""
        table = dict(super().preview(nrows))
        table["data"] = [[plain(cell) for cell in row] for row in table["data"]]
        table["index"] = [plain(label) for label in table["index"]]
        return TablePreview(table)


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: arrays to lists, numpy scalars to Python numbers,
    missing values (NA, NaT, NaN) to None, timestamps to ISO strings."""
    if isinstance(value, (np.ndarray, list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (pd.Timestamp, pd.Timedelta)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value
