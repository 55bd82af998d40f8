"""The tracked runs as a catalog entry: read-only, previewed, its errors behind Kedro's
wrapper, and importing it does not import MLflow."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from kedro.io import DatasetError
from tracked_store import RUNS, write_store

from bit_finetune.catalog.tracked_runs import TrackedRunsDataset
from bit_finetune.errors import ConfigError, expected


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    return write_store(tmp_path_factory.mktemp("tracked"))


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
