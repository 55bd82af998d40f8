"""Guards kedro-datasets' private attributes that :mod:`bit_finetune.catalog.kedro_private`
relies on: a failure here means a kedro-datasets release changed them, and atomic saves
(``make_saves_atomic``) no longer reach its datasets."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest
from fsspec.implementations.local import LocalFileSystem
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import CSVDataset, ParquetDataset
from kedro_datasets.text import TextDataset
from kedro_datasets.yaml import YAMLDataset

from bit_finetune.catalog import BiTWeightsDataset, KerasModelDataset
from bit_finetune.catalog.kedro_private import file_system, replace_file_system


class RecordingFileSystem(LocalFileSystem):
    """The local file system, recording the paths opened for writing."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.written: list[str] = []

    def _open(self, path, mode="rb", *args, **kwargs):
        if "w" in mode:
            self.written.append(self._strip_protocol(path))
        return super()._open(path, mode, *args, **kwargs)


def figure():
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    plt.plot([1, 2])
    return fig


# (dataset type, its file, a value it saves): the kedro-datasets types the catalogs use
SAVES = {
    "json": (JSONDataset, "a.json", lambda: {"a": 1}),
    "csv": (CSVDataset, "a.csv", lambda: pd.DataFrame({"a": [1]})),
    "parquet": (ParquetDataset, "a.parquet", lambda: pd.DataFrame({"a": [1]})),
    "text": (TextDataset, "a.md", lambda: "# a"),
    "yaml": (YAMLDataset, "a.yml", lambda: {"a": 1}),
    "png": (MatplotlibDataset, "a.png", figure),
}


@pytest.mark.parametrize("kind", list(SAVES))
def test_a_kedro_datasets_dataset_saves_through_the_file_system_it_is_given(kind, tmp_path):
    dataset_type, name, value = SAVES[kind]
    dataset = dataset_type(filepath=str(tmp_path / name))
    assert type(file_system(dataset)) is LocalFileSystem, (
        f"kedro-datasets' {type(dataset).__name__} no longer keeps its file system in _fs "
        "and its path in _filepath: atomic saves no longer reach it"
    )
    recording = RecordingFileSystem(auto_mkdir=True, skip_instance_cache=True)
    replace_file_system(dataset, recording)
    dataset.save(value())
    assert file_system(dataset) is recording
    assert recording.written == [str(tmp_path / name)]


def test_this_projects_file_datasets_follow_the_same_convention(tmp_path):
    assert type(file_system(KerasModelDataset(filepath=str(tmp_path / "m.keras")))) is (
        LocalFileSystem
    )
    assert type(file_system(BiTWeightsDataset(filepath=str(tmp_path / "w.npz")))) is (
        LocalFileSystem
    )


def test_other_datasets_have_no_file_system(tmp_path):
    from kedro.io import MemoryDataset

    assert file_system(MemoryDataset()) is None
    assert file_system(object()) is None
