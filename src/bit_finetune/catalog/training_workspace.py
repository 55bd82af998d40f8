"""Kedro dataset for a folder the training node fills itself: its workspaces (one folder
per recipe: checkpoints, TensorBoard logs) and the backbone features of head-only
fine-tuning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from bit_finetune.catalog.previews import TablePreview, table
from bit_finetune.core.files import usage
from bit_finetune.training.checkpoints import latest_step
from bit_finetune.training.workspaces import is_workspace


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

    @property
    def path(self) -> Path:
        """The folder, as configured."""
        return self._path

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
        """One row per top-level entry (a recipe's workspace, a features file): the step
        a workspace's latest checkpoint reached (none for other entries), files and bytes."""
        rows = [
            [entry.name, latest_step(entry) if is_workspace(entry) else None, *usage(entry)]
            for entry in sorted(self._path.iterdir())
        ]
        return table(["entry", "step", "files", "bytes"], rows)
