"""WorkspaceDataset: a folder handed to the training node, and its kedro-viz preview."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kedro.io import DatasetError

from bit_finetune.catalog import WorkspaceDataset
from tests.training.hand_made import record, write_workspace


def test_load_creates_and_returns_the_folder(tmp_path):
    dataset = WorkspaceDataset(path=str(tmp_path / "a" / "workspace"))
    assert not dataset.exists()
    folder = dataset.load()
    assert isinstance(folder, Path) and folder.is_dir()
    assert folder == (tmp_path / "a" / "workspace").resolve()
    assert dataset.exists()


def test_save_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="fills itself and cannot be saved"):
        WorkspaceDataset(path=str(tmp_path)).save(tmp_path)


def test_the_training_workspace_previews_a_row_per_recipe(tmp_path):
    newer = write_workspace(tmp_path, record(batch_size=32), step=4, used=time.time())
    older = write_workspace(tmp_path, record(), step=10, used=time.time() - 60)
    (newer / "tensorboard").mkdir()
    (newer / "tensorboard/events").write_bytes(b"x" * 5)
    preview = WorkspaceDataset(path=str(tmp_path)).preview()
    assert preview["columns"] == ["entry", "step", "files", "bytes"]
    rows = {row[0]: row[1:] for row in preview["data"]}
    assert rows == {newer.name: [4, *held(newer)], older.name: [10, *held(older)]}


def held(folder: Path) -> list[int]:
    """Files under ``folder`` and their bytes."""
    files = [f for f in folder.rglob("*") if f.is_file()]
    return [len(files), sum(f.stat().st_size for f in files)]


def test_the_features_folder_previews_a_row_per_file(tmp_path):
    (tmp_path / "train-0123.npz").write_bytes(b"x" * 7)
    preview = WorkspaceDataset(path=str(tmp_path)).preview()
    assert preview["data"] == [["train-0123.npz", None, 1, 7]]
