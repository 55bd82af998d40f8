"""The hooks' pieces that need no run: a cluster worker's private copies of the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset

from bit_finetune.hooks import private_copies


def test_private_copies_save_under_the_folder_as_configured(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    catalog = DataCatalog.from_config(
        {
            "report": {"type": "json.JSONDataset", "filepath": "data/08/report.json",
                       "versioned": True},
            "{name}_table": {"type": "pandas.CSVDataset", "filepath": "data/{name}.csv",
                             "save_args": {"index": False}},
            "scratch": {"type": "MemoryDataset"},
        },
        save_version="2024-01-02T03.04.05.678Z",
    )  # fmt: skip
    copies = private_copies(catalog, ["report", "scores_table", "scratch"], tmp_path)

    assert list(copies) == ["report", "scores_table", "scratch"]
    copies["report"].save({"top1": 0.5})
    copies["scores_table"].save(pd.DataFrame({"score": [1, 2]}))
    saved = tmp_path / "report/report.json/2024-01-02T03.04.05.678Z/report.json"
    assert json.loads(saved.read_text()) == {"top1": 0.5}  # under the run's version
    assert (tmp_path / "scores_table/scores.csv").read_text() == "score\n1\n2\n"
    assert isinstance(copies["scratch"], MemoryDataset)
    assert not Path("data").exists()
