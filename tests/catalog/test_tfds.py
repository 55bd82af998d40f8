"""A TFDS dataset as a catalog entry: read-only, its errors behind Kedro's wrapper."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog, DatasetError

from bit_finetune.catalog import TFDSDataset
from bit_finetune.errors import ConfigError, expected


def test_read_only_and_a_config_error_behind_kedros_wrapper():
    with pytest.raises(DatasetError, match="read-only"):
        TFDSDataset(name="tiny_shapes").save(object())
    catalog = DataCatalog.from_config({"raw_images": {"type": "bit_finetune.catalog.TFDSDataset"}})
    with pytest.raises(DatasetError) as caught:
        catalog.load("raw_images")
    assert isinstance(expected(caught.value), ConfigError)
    assert str(expected(caught.value)).startswith("raw_images.name: no TFDS dataset named")
