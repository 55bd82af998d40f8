"""Kedro dataset for a folder the training node fills itself: its workspace (checkpoints,
TensorBoard logs) and the backbone features of head-only fine-tuning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from bit_finetune.datasets.previews import table


class WorkspaceDataset(AbstractDataset[None, Path]):
    """A folder the training node owns; ``load`` returns it as a ``pathlib.Path``,
    creating it when missing. Its contents are written by training itself, so the
    dataset cannot be saved.

    Args:
        path: the workspace folder (local file system).
        metadata: free-form metadata (e.g. for kedro-viz); ignored by the dataset.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> Path:
        self._path.mkdir(parents=True, exist_ok=True)
        return self._path.resolve()

    def save(self, data: None) -> None:
        raise DatasetError(
            f"'{self._path}' is a folder the training node fills itself and cannot be "
            "saved; use it only as a node input"
        )

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def preview(self) -> TablePreview:
        """One row per top-level entry (checkpoints, tensorboard, ...): files and bytes."""
        rows = []
        for entry in sorted(self._path.iterdir()):
            files = [f for f in entry.rglob("*") if f.is_file()] if entry.is_dir() else [entry]
            rows.append([entry.name, len(files), sum(f.stat().st_size for f in files)])
        return table(["entry", "files", "bytes"], rows)
