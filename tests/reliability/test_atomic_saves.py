"""A save that fails half-way (disk full, permission denied) leaves the previous artefact
as it was, names the path in its error, and leaves no partial file behind."""

from __future__ import annotations

import functools
import json
import os
import stat
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError
from kedro.io.core import Version
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import CSVDataset, ParquetDataset
from matplotlib.figure import Figure
from storage_faults import fail_writes_after
from tiny_project import (
    copy_project,
    files,
    partial_files,
    run_in_process,
    tiny,
    variant_environment,
)

from bit_finetune.catalog import KerasModelDataset, ParquetTableDataset
from bit_finetune.catalog.kedro_private import make_saves_atomic

DATA_STAGES = ["ingestion", "profiling", "filtering", "hyperrule"]


def figure(colour: str) -> Figure:
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0], color=colour)
    return fig


def model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"step": np.arange(n), "loss": np.linspace(1, 0, n)})


# name -> (dataset factory, first value, second value); one of each kind in the catalog
KINDS = {
    "parquet": (lambda p: ParquetDataset(filepath=str(p / "t.parquet")), table(500), table(900)),
    "parquet_table": (lambda p: ParquetTableDataset(filepath=str(p / "t.parquet")),
                      table(500), table(900)),
    "csv": (lambda p: CSVDataset(filepath=str(p / "t.csv")), table(500), table(900)),
    "json": (lambda p: JSONDataset(filepath=str(p / "m.json")), {"a": list(range(2000))},
             {"b": list(range(3000))}),
    "versioned_json": (
        lambda p: JSONDataset(filepath=str(p / "r.json"), version=Version(None, None)),
        {"run": list(range(1000))}, {"run": list(range(2000))},
    ),
    "png": (lambda p: MatplotlibDataset(filepath=str(p / "f.png")), figure("red"),
            figure("blue")),
    "keras": (lambda p: KerasModelDataset(filepath=str(p / "c.keras")), model(0), model(1)),
}


@pytest.fixture
def disk_full_after(monkeypatch):
    """``disk_full_after(n)``: every file written from now on fails with ENOSPC once it
    holds ``n`` bytes, as on a full disk (the bytes up to the limit do reach the file)."""
    return functools.partial(fail_writes_after, monkeypatch)


def same(a, b) -> bool:
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    if isinstance(a, keras.Model):
        return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    return a == b


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_save_that_fails_half_way_keeps_the_previous_artefact(kind, tmp_path, disk_full_after):
    make, first, second = KINDS[kind]
    make(tmp_path).save(first)
    before = files(tmp_path)
    dataset = make(tmp_path)
    assert make_saves_atomic(dataset)
    disk_full_after(64)
    with pytest.raises((DatasetError, OSError), match="No space left on device"):
        dataset.save(second)
    assert files(tmp_path) == before
    if kind != "png":  # a Matplotlib dataset cannot load
        assert same(first, make(tmp_path).load())
    assert partial_files(tmp_path) == []


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_atomic_save_writes_the_same_artefact(kind, tmp_path):
    make, first, second = KINDS[kind]
    plain, atomic = make(tmp_path / "plain"), make(tmp_path / "atomic")
    assert make_saves_atomic(atomic)
    for value in (first, second):
        plain.save(value)
        atomic.save(value)
    if kind != "png":
        assert same(second, atomic.load())
    written = [p for p in (tmp_path / "atomic").rglob("*") if p.is_file()]
    assert written and partial_files(tmp_path) == []
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()
    if kind not in ("keras", "versioned_json", "png"):
        assert files(tmp_path / "atomic") == files(tmp_path / "plain")


def test_partial_files_of_a_killed_save_are_removed_by_the_next(tmp_path):
    (tmp_path / ".m.json.k1ll3d.partial").write_text('{"a": [1, 2')
    dataset = JSONDataset(filepath=str(tmp_path / "m.json"))
    make_saves_atomic(dataset)
    dataset.save({"a": [1, 2, 3]})
    assert partial_files(tmp_path) == []
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": [1, 2, 3]}


def test_datasets_that_are_atomic_already_or_not_local_are_left_alone(tmp_path):
    from bit_finetune.catalog import SavedModelDataset, TFRecordShardsDataset

    assert not make_saves_atomic(TFRecordShardsDataset(str(tmp_path / "shards")))
    assert not make_saves_atomic(SavedModelDataset(str(tmp_path / "serving")))
    assert not make_saves_atomic(JSONDataset(filepath="memory://m.json"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    project = copy_project(tmp_path / "project")
    run_in_process(project, tiny(), pipeline_names=DATA_STAGES)
    return project


@pytest.mark.slow
def test_disk_full_during_a_run_names_the_path_and_keeps_earlier_artefacts(
    project, disk_full_after
):
    data = project / "data"
    before = files(data)
    target = data / "02_intermediate/image_profile.parquet"
    disk_full_after(1000, where="image_profile.parquet")
    with pytest.raises(DatasetError) as failure:
        run_in_process(project, tiny(), pipeline_names=DATA_STAGES)
    message = str(failure.value)
    assert str(target) in message and "No space left on device" in message
    after = files(data)
    records = {k for k in after if k.startswith("08_reporting/run_record.json/")}
    assert {k: v for k, v in after.items() if k not in records} == {
        k: v for k, v in before.items() if k not in records
    }  # the index was rewritten with the same bytes; the profile is the old one
    assert len(records) == 2  # one per run; the failed run's is complete JSON
    for record in records:
        json.loads((data / record).read_text())
    assert partial_files(data) == []


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("/sys/bit_finetune_reliability/filtered_index.parquet", "Operation not permitted"),
        ("{tmp}/a_file/filtered_index.parquet", "File exists"),
    ],
    ids=["read-only-folder", "under-a-file"],
)
@pytest.mark.slow
def test_unwritable_artefact_path_names_the_path_and_keeps_earlier_artefacts(
    project, target, error
):
    target = target.format(tmp=project)
    (project / "a_file").write_text("not a folder")
    variant_environment(project / "conf", "unwritable", catalog={
        "filtered_index": {"type": "pandas.ParquetDataset", "filepath": target}})
    data = project / "data"
    before = files(data)
    with pytest.raises(Exception) as failure:
        run_in_process(project, tiny(), env="unwritable", pipeline_names=DATA_STAGES)
    assert target in str(failure.value) and error in str(failure.value)
    after = files(data)
    assert {k: after[k] for k in before if "run_record" not in k} == {
        k: v for k, v in before.items() if "run_record" not in k
    }
    assert partial_files(data) == []
    assert not Path(target).exists()
