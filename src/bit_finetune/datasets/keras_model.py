"""The classifier's catalog type: kedro-datasets' Keras model dataset with a preview."""

from __future__ import annotations

from typing import Any

from kedro.io import DatasetError
from kedro_datasets._typing import TablePreview
from kedro_datasets.tensorflow import TensorFlowModelDataset

from bit_finetune.bit import register_layers
from bit_finetune.datasets.atomic import raise_if_out_of_room
from bit_finetune.datasets.previews import layer_table


class KerasModelDataset(TensorFlowModelDataset):
    """``tensorflow.TensorFlowModelDataset`` whose kedro-viz preview is a table of the
    model's layers. The preview loads the model with the entry's ``load_args``, so Keras'
    safe mode applies to it as to any load."""

    def load(self) -> Any:
        """The saved model, with the BiT layers registered first (a ``.keras`` file names
        them, and Keras can only rebuild registered classes)."""
        register_layers()
        return super().load()

    def save(self, data: Any) -> None:
        """As kedro-datasets saves it: Keras writes a temporary file, which is copied into
        place (atomically on the chief, see :mod:`bit_finetune.datasets.atomic`). Running
        out of room, also while writing the temporary file, is reported for this
        artefact (:class:`~bit_finetune.errors.StorageFullError`)."""
        try:
            super().save(data)
        except DatasetError as error:
            raise_if_out_of_room(str(self._filepath), error, None)
            raise

    def preview(self) -> TablePreview:
        """Each top-level layer's type, output shape and parameters, then the totals."""
        return layer_table(self.load())
