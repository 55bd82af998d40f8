"""The digits as a catalog entry: read-only, and bad labels refused behind Kedro's wrapper."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog, DatasetError

from bit_finetune.catalog import DigitsDataset
from bit_finetune.errors import ConfigError, expected


def test_is_read_only():
    dataset = DigitsDataset()
    with pytest.raises(DatasetError, match="read-only"):
        dataset.save(object())
    assert dataset.load().describe()["images"] == 1797


def test_bad_labels_in_the_catalog_are_a_config_error():
    entry = {"type": "bit_finetune.catalog.DigitsDataset", "labels": [3]}
    with pytest.raises(DatasetError) as raised:
        DataCatalog.from_config({"raw_images": entry}).load("raw_images")
    assert isinstance(expected(raised.value), ConfigError)
    assert "at least two different digits from 0" in str(expected(raised.value))
