"""WorkspaceDataset: a folder handed to the training node."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.io import DatasetError

from bit_finetune.datasets import WorkspaceDataset


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
