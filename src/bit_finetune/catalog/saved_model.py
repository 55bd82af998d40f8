"""Kedro dataset for a TensorFlow SavedModel directory, saved atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from bit_finetune.catalog.previews import JSONPreview, shape_text
from bit_finetune.core.files import staged_folder, usage


class SavedModelDataset(AbstractDataset[Any, Any]):
    """Saves a ``tf.Module`` with ``tf.saved_model.save``; loads with ``tf.saved_model.load``.

    A module with a ``serving_signatures()`` method (see
    :class:`bit_finetune.serving.export.ServingModule`) is saved with those signatures.
    The SavedModel is written to a hidden sibling folder and renamed into place
    (:func:`~bit_finetune.core.files.staged_folder`), so ``path`` only ever holds a
    complete model; ``exists()`` checks for its ``saved_model.pb``.

    Args:
        path: the SavedModel folder (local file system).
        metadata: free-form metadata (e.g. for kedro-viz); ignored by the dataset.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> Any:
        import tensorflow as tf

        if not self._exists():
            raise FileNotFoundError(
                f"serving_model: no SavedModel at '{self._path}' (saved_model.pb missing); "
                "create it with `kedro run --nodes training.export_serving_model`"
            )
        return tf.saved_model.load(str(self._path))

    def save(self, data: Any) -> None:
        import tensorflow as tf

        signatures = data.serving_signatures() if hasattr(data, "serving_signatures") else None
        with staged_folder(str(self._path)) as staging:
            tf.saved_model.save(data, staging, signatures=signatures)

    def _exists(self) -> bool:
        return (self._path / "saved_model.pb").is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def preview(self) -> JSONPreview:
        """Each serving signature's inputs and outputs (dtype and shape) and the size on
        disk, read from ``saved_model.pb`` without loading the model."""
        from tensorflow.core.protobuf import saved_model_pb2

        saved = saved_model_pb2.SavedModel.FromString((self._path / "saved_model.pb").read_bytes())
        signatures = {
            name: {
                "inputs": {key: _tensor(info) for key, info in signature.inputs.items()},
                "outputs": {key: _tensor(info) for key, info in signature.outputs.items()},
            }
            for graph in saved.meta_graphs
            for name, signature in sorted(graph.signature_def.items())
            if not name.startswith("__")
        }
        return JSONPreview(json.dumps({"signatures": signatures, "bytes": usage(self._path)[1]}))


def _tensor(info: Any) -> str:
    """``uint8 [?, ?, ?, 3]`` for a signature's ``TensorInfo``."""
    from tensorflow import as_dtype

    shape = tuple(None if d.size < 0 else d.size for d in info.tensor_shape.dim)
    return f"{as_dtype(info.dtype).name} {shape_text(shape)}"
