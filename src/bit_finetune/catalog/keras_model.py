"""The classifier's catalog type: a Keras model file, versioned through fsspec, with a
kedro-viz preview; TensorFlow is imported only when a model is loaded or saved.

It takes the options of kedro-datasets' ``tensorflow.TensorFlowModelDataset`` and stores
the same files, but does not subclass it: that module imports TensorFlow at module level,
so Kedro's runner, which builds every dataset of the pipeline before the first node, would
import TensorFlow (about 5 s) before any node needs it (see :mod:`bit_finetune.startup`).
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from pathlib import PurePath, PurePosixPath
from typing import Any, ClassVar

import fsspec
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)

from bit_finetune.catalog.previews import TablePreview, layer_table
from bit_finetune.core.files import raise_if_out_of_room

TEMPORARY_H5_FILE = "tmp_tensorflow_model.h5"
TEMPORARY_KERAS_FILE = "tmp_tensorflow_model.keras"


class KerasModelDataset(AbstractVersionedDataset[Any, Any]):
    """Loads and saves a Keras model (``.keras``, or ``.h5`` with ``save_format: h5``)
    with ``tf.keras.models.load_model`` / ``save_model``, through a local temporary file
    copied from or to ``filepath`` with fsspec (any protocol fsspec supports).

    Loading uses Keras' safe mode unless ``load_args`` sets ``safe_mode: false``; a
    ``load_args`` key ``tf_device`` loads under that device. The kedro-viz preview is a
    table of the model's layers, loaded with the same ``load_args``. On the chief of a run
    the copy into place is atomic (:func:`bit_finetune.catalog.kedro_private.make_saves_atomic`
    replaces ``_fs``).

    Args:
        filepath: the model file, optionally with an fsspec protocol (``s3://...``).
        load_args: passed to ``load_model`` (plus ``tf_device``).
        save_args: passed to ``save_model``.
        version: Kedro versioning (``versioned: true`` in the catalog).
        credentials: passed to the fsspec file system.
        fs_args: passed to the fsspec file system's constructor.
        metadata: free-form metadata (e.g. for kedro-viz); ignored by the dataset.
    """

    DEFAULT_LOAD_ARGS: ClassVar[dict[str, Any]] = {"safe_mode": True}
    DEFAULT_SAVE_ARGS: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        *,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        fs_options = copy.deepcopy(fs_args) or {}
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol == "file":
            fs_options.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(copy.deepcopy(credentials) or {}), **fs_options)
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )
        self._load_args = {**self.DEFAULT_LOAD_ARGS, **(load_args or {})}
        self._save_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}
        self._is_h5 = self._save_args.get("save_format") == "h5"

    def _temporary_file(self, folder: str) -> str:
        return str(PurePath(folder) / (TEMPORARY_H5_FILE if self._is_h5 else TEMPORARY_KERAS_FILE))

    def load(self) -> Any:
        """The saved model, with the BiT layers registered first (a ``.keras`` file names
        them, and Keras can only rebuild registered classes)."""
        import tensorflow as tf

        from bit_finetune.bit import register_layers

        register_layers()
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        load_args = {key: value for key, value in self._load_args.items() if key != "tf_device"}
        device = self._load_args.get("tf_device")
        with tempfile.TemporaryDirectory(prefix="kedro_tensorflow_tmp") as folder:
            path = self._temporary_file(folder)
            self._fs.get(load_path, path)
            with tf.device(device) if device else contextlib.nullcontext():
                return tf.keras.models.load_model(path, **load_args)

    def save(self, data: Any) -> None:
        """Keras writes a temporary file, which is copied into place (atomically on the
        chief, see :mod:`bit_finetune.core.files`). Running out of room, also while
        writing the temporary file, is reported for this artefact
        (:class:`~bit_finetune.errors.StorageFullError`)."""
        try:
            self._write(data)
        except Exception as error:
            raise_if_out_of_room(str(self._filepath), error, None)
            raise

    def _write(self, data: Any) -> None:
        # Not named _save: Kedro would take a subclass's _save for its save.
        import tensorflow as tf

        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        with tempfile.TemporaryDirectory(prefix="kedro_tensorflow_tmp") as folder:
            path = self._temporary_file(folder)
            tf.keras.models.save_model(data, path, **self._save_args)
            self._fs.put(path, save_path)

    def _exists(self) -> bool:
        try:
            load_path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(load_path)

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "protocol": self._protocol,
            "load_args": self._load_args,
            "save_args": self._save_args,
            "version": self._version,
        }

    def _release(self) -> None:
        super()._release()
        self._invalidate_cache()

    def _invalidate_cache(self) -> None:
        """Invalidate the file system's caches of ``filepath``."""
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))

    def preview(self) -> TablePreview:
        """Each top-level layer's type, output shape and parameters, then the totals."""
        return layer_table(self.load())
