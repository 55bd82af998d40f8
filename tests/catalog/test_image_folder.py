"""The image folder as a catalog entry: loaded through the catalog, read-only, and its
errors behind Kedro's wrapper name the entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.io import DataCatalog, DatasetError

from bit_finetune.catalog import ImageFolderDataset
from bit_finetune.errors import ConfigError


def test_catalog_entry_loads_a_source(image_folder):
    root = image_folder(per_class=1)
    catalog = DataCatalog.from_config(
        {"raw_images": {"type": "bit_finetune.catalog.ImageFolderDataset", "path": str(root)}}
    )
    assert len(list(catalog.load("raw_images").scan())) == 2
    assert catalog.exists("raw_images")


def test_bad_extensions_and_read_only(tmp_path: Path):
    with pytest.raises(ConfigError, match="raw_images.extensions"):
        ImageFolderDataset(str(tmp_path), extensions=[])
    with pytest.raises(DatasetError, match="read-only"):
        ImageFolderDataset(str(tmp_path)).save(object())


@pytest.mark.parametrize(("labelled", "key"), [(True, "raw_images"), (False, "prediction_images")])
@pytest.mark.parametrize(
    ("folder", "problem"), [("nowhere", "does not exist"), ("empty", "has no images")]
)
def test_a_bad_folder_names_the_entry(
    tmp_path: Path, folder: str, problem: str, labelled: bool, key: str
):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError) as caught:
        ImageFolderDataset(str(tmp_path / folder), labelled=labelled).load()
    message = str(caught.value.__cause__)
    assert isinstance(caught.value.__cause__, ConfigError)
    assert message.startswith(f"{key}.path: ") and str(tmp_path / folder) in message
    assert problem in message
