"""Kedro dataset for a weights file in the official BiT ``.npz`` layout."""

from __future__ import annotations

import posixpath
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fsspec
import numpy as np
from kedro.io.core import AbstractDataset, get_protocol_and_path

from bit_finetune.catalog.previews import TablePreview, shape_text, table

if TYPE_CHECKING:
    import keras


class BiTWeightsDataset(AbstractDataset["keras.Model", str]):
    """A native BiT backbone (or a classifier on one) saved with :func:`bit.save_npz`.

    ``load`` returns the file's path (an fsspec URL when remote), ready for
    ``training.model.weights``, which reads it as it reads a published BiT file.

    Example catalog entry::

        upstream.backbone:
          type: bit_finetune.catalog.BiTWeightsDataset
          filepath: data/06_models/upstream/backbone.npz

    Args:
        filepath: where the ``.npz`` file goes (any fsspec path).
        metadata: free-form metadata (e.g. for kedro-viz); ignored by the dataset.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol)
        self._filepath = path
        self.metadata = metadata

    def load(self) -> str:
        if self._protocol == "file":
            return str(Path(self._filepath).resolve())
        return f"{self._protocol}://{self._filepath}"

    def save(self, data: keras.Model) -> None:
        from bit_finetune.bit.npz import save_npz

        with tempfile.TemporaryDirectory() as folder:
            local = f"{folder}/weights.npz"
            save_npz(data, local)
            self._fs.makedirs(posixpath.dirname(self._filepath), exist_ok=True)
            self._fs.put_file(local, self._filepath)

    def _exists(self) -> bool:
        return self._fs.exists(self._filepath)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol}

    def preview(self) -> TablePreview:
        """One row per weight array: its official key and shape."""
        with self._fs.open(self._filepath, "rb") as f, np.load(f) as arrays:
            rows = [[key, shape_text(arrays[key].shape)] for key in arrays.files]
        return table(["key", "shape"], rows)
