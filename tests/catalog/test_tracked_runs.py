"""The tracked runs: every run of every active experiment of a real MLflow store, one row
each, read without a server and without creating a store that is not there."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError
from mlflow.tracking import MlflowClient
from tracked_store import DELETED, RUNS, write_store

from bit_finetune.catalog.tracked_runs import RUN_COLUMNS, TrackedRunsDataset
from bit_finetune.errors import ConfigError, expected


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    return write_store(tmp_path_factory.mktemp("tracked"))


def test_one_row_per_run_of_every_active_experiment(store):
    uri, ids = store
    runs = TrackedRunsDataset(uri).load()
    assert list(runs.columns[: len(RUN_COLUMNS)]) == RUN_COLUMNS
    assert list(runs["run_id"]) == ids  # oldest first; the deleted experiment's run is gone
    assert DELETED.dataset not in set(runs["dataset"])
    assert list(runs["run_name"]) == [run.name for run in RUNS]
    assert list(runs["dataset"]) == [run.dataset for run in RUNS]
    assert list(runs["status"]) == [run.status for run in RUNS]
    minutes = (runs["end_time"] - runs["start_time"]).dt.total_seconds() / 60
    assert list(minutes) == [run.minutes for run in RUNS]
    assert str(runs["start_time"].dt.tz) == "UTC"
    assert runs.loc[0, "start_time"] == pd.Timestamp("2025-03-01T10:00:00Z")
    # metrics, params and tags as mlflow.search_runs names them
    assert list(runs["metrics.test.top1"].isna()) == [run.test is None for run in RUNS]
    assert runs.loc[0, "metrics.loss"] == pytest.approx(2.0 / 3)  # a step metric's last value
    assert list(runs["params.rule.crop_size"]) == [str(run.crop_size) for run in RUNS]
    assert runs.loc[0, "params.training.model.architecture"] == "R14x0.25"
    assert list(runs["tags.bit_finetune.weights"]) == [run.weights for run in RUNS]
    assert runs.loc[2, "tags.bit_finetune.resumed_from"] == ids[1]
    assert runs["tags.bit_finetune.resumed_from"].isna().sum() == len(RUNS) - 1


def test_a_relative_sqlite_uri_is_read_from_the_working_folder(store, monkeypatch, tmp_path):
    uri, ids = store
    dataset = TrackedRunsDataset("sqlite:///mlruns.db")
    monkeypatch.chdir(Path(uri.removeprefix("sqlite:///")).parent)
    assert list(dataset.load()["run_id"]) == ids
    # another folder's store, in the same process (MLflow keeps a store per uri)
    shutil.copy("mlruns.db", tmp_path / "mlruns.db")
    MlflowClient(f"sqlite:///{tmp_path}/mlruns.db").delete_run(ids[0])
    monkeypatch.chdir(tmp_path)
    assert list(dataset.load()["run_id"]) == ids[1:]


@pytest.mark.parametrize("uri", ["sqlite:///{folder}/mlruns.db", "sqlite:///mlruns.db",
                                 "{folder}/mlruns", "file://{folder}/mlruns"])
def test_a_store_not_there_yet_is_no_runs_and_is_not_created(uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = TrackedRunsDataset(uri.format(folder=tmp_path)).load()
    assert runs.empty
    assert list(runs.columns) == RUN_COLUMNS
    assert list(tmp_path.iterdir()) == []


def test_a_store_without_runs_is_an_empty_table(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    MlflowClient(tracking_uri=uri).search_experiments()  # creates the empty store
    assert list(TrackedRunsDataset(uri).load().columns) == RUN_COLUMNS


def test_read_only_described_by_its_uri_and_previewed(store):
    uri, _ = store
    dataset = TrackedRunsDataset(uri, metadata={"kedro-viz": {"layer": "reporting"}})
    assert uri in str(dataset)
    with pytest.raises(DatasetError, match="read-only"):
        dataset.save(pd.DataFrame())
    preview = dataset.preview(nrows=2)
    json.dumps(preview)  # kedro-viz can send it
    assert preview["columns"] == ["run_name", "dataset", "status", "start_time",
                                  "metrics.test.top1"]  # fmt: skip
    assert [row[0] for row in preview["data"]] == [RUNS[-1].name, RUNS[-2].name]  # latest
    assert preview["data"][1][-1] == 0.8


def test_without_mlflow_it_says_how_to_install_it(store, monkeypatch):
    for name in ("mlflow", "mlflow.entities", "mlflow.tracking"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    with pytest.raises(DatasetError) as raised:  # Kedro's wrapper of the dataset's error
        TrackedRunsDataset(store[0]).load()
    error = expected(raised.value)  # kedro run prints it without a traceback
    assert isinstance(error, ConfigError)
    assert str(error).endswith('install the mlflow extra: pip install -e ".[mlflow]"')


@pytest.mark.slow
def test_importing_the_dataset_does_not_import_mlflow():
    code = ("import sys, bit_finetune.catalog.tracked_runs, bit_finetune.pipeline_registry; "
            "print('mlflow' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert done.stdout.split() == ["False"]
