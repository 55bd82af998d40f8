"""The classifier's catalog type: kedro-datasets' Keras model dataset with a preview."""

from __future__ import annotations

from typing import Any

from kedro_datasets._typing import TablePreview
from kedro_datasets.tensorflow import TensorFlowModelDataset

from bit_finetune.bit import register_layers
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

    def preview(self) -> TablePreview:
        """Each top-level layer's type, output shape and parameters, then the totals."""
        return layer_table(self.load())
